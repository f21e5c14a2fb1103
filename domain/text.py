"""Text every store can hold: no NUL characters and no unpaired surrogates.

PostgreSQL refuses NUL in text and no UTF-8 encoder accepts a lone surrogate (JSON can
express both, as "\\u0000" and "\\ud800"), so they are refused here, as invalid values,
instead of failing deep in a driver.
"""

from __future__ import annotations

from domain.errors import InvalidValue


def check_storable(value: str, *, field: str) -> str:
    if "\x00" in value:
        raise InvalidValue(f"{field} must not contain NUL characters", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InvalidValue(f"{field} must be valid Unicode text", field=field) from error
    return value


def is_storable(value: str) -> bool:
    try:
        check_storable(value, field="value")
    except InvalidValue:
        return False
    return True
