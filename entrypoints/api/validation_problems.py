"""A request validation problem as the API tells it: where and why, never the input.

Pydantic's problem carries ``input`` (the offending value) and, for some rules, a ``ctx`` or
``msg`` that quotes part of it; FastAPI's default 422 passes all of it on. A value sent back is
a reflection (into whatever renders or logs the body, OWASP's Error Handling Cheat Sheet) and,
for a rejected password, a secret handed back; NaN or Infinity in it even fails as a 500.
"""

from __future__ import annotations

import math
import re
from typing import Any

# The one kind of name a 422 may repeat from the body: a plain, short key (as request ids).
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
UNKNOWN_FIELD = "(unknown field)"


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): _json_safe(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(inner) for inner in value]
    return str(value)


def without_input(problem: dict[str, Any]) -> dict[str, Any]:
    """Pydantic's problem as the API tells it: type, loc, msg and ctx, minus what repeats
    the input. ``input`` goes; email-validator's reason may quote part of the address (an IDNA
    label, a bracketed literal), so an email's msg is the fixed first half of it; an unknown
    key's name is repeated only if it is plain and short."""
    told = {key: value for key, value in problem.items() if key in {"type", "loc", "msg", "ctx"}}
    if problem.get("type") == "value_error" and "reason" in problem.get("ctx", {}):
        told["msg"] = "value is not a valid email address"
        del told["ctx"]
    location = list(problem.get("loc", ()))
    if problem.get("type") == "extra_forbidden" and not (
        location and isinstance(location[-1], str) and _PLAIN_KEY.fullmatch(location[-1])
    ):
        told["loc"] = [*location[:-1], UNKNOWN_FIELD]
    return {key: _json_safe(value) for key, value in told.items()}
