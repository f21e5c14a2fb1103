"""The error answers each operation documents, besides its success and FastAPI's own 422.

A generated client has no type for a status its OpenAPI document does not list, so every status
an operation can answer is listed here, where it comes from:

- every request passes the header guard (431, in the server) and the body limit (413);
- every operation that touches the database may answer 503 (unreachable, out of connections,
  contended), with Retry-After;
- every read through the read port, which includes finding who a bearer token names, may answer
  400 for an ``X-Consistency-Token`` that no write returned (``consistency.py``);
- signed-in operations answer 401 without a valid token, admin operations 403 to the others.

Routers add what is theirs (404, 409, 429). ``tests/integration/test_schema_conformance.py``
checks the document against the running server with schemathesis.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

from entrypoints.api.consistency import HEADER as CONSISTENCY_HEADER
from entrypoints.api.response_models import ErrorOut

Responses = dict[int | str, dict[str, Any]]

RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def error(description: str, **extra: Any) -> dict[str, Any]:
    """One documented error: the API's JSON error body and why it is answered."""
    return {"model": ErrorOut, "description": description, **extra}


EVERY_REQUEST: Responses = {
    413: error("Request body over the server's limit (STOCKROOM_MAX_BODY_BYTES, 64 KiB)"),
    431: error("Request headers over the server's limit (STOCKROOM_MAX_HEADER_BYTES)"),
}
UNAVAILABLE: Responses = {
    503: error(
        "Temporarily unavailable (the database is unreachable or busy, or too many passwords "
        "are being hashed at once): send it again after Retry-After seconds",
        headers=RETRY_AFTER,
    )
}
READS: Responses = {
    400: error(f"Malformed {CONSISTENCY_HEADER} header (send back one a write returned)"),
    **UNAVAILABLE,
}
SIGNED_IN: Responses = {**READS, 401: error("No valid bearer token")}
ADMIN_ONLY: Responses = {**SIGNED_IN, 403: error("Admins only")}


async def no_store(response: Response) -> None:
    """A router's dependency: its answers are one account's (a token, an order, personal
    data), so no cache on the way may keep them (RFC 6749 5.1 asks it of token responses;
    RFC 9111 5.2.2.5). Errors get it from their handlers (``errors.py``)."""
    response.headers["Cache-Control"] = "no-store"
