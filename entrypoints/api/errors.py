"""One place that maps domain and service errors to HTTP status codes.

Two rules hold for every error answered here:

- No input echoed: a body says what is wrong and where, never the value that was wrong (a
  reflected value is a ready-made injection into whatever renders or logs the body, OWASP's
  Error Handling Cheat Sheet). Named are only identifiers the API parsed into its own canonical
  form (an integer id, an upper-cased SKU of ``[A-Z0-9._-]``) and field names of the schema.
- ``Cache-Control: no-store``: an error is about one request at one moment, often one
  account's (401, 403, 404 on an order, 429); no cache on the way may keep it (RFC 9111 5.2.2.5).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import (
    DomainError,
    DuplicateSku,
    EmailTaken,
    IllegalTransition,
    IncorrectPassword,
    InvalidCredentials,
    InvalidValue,
    ItemHasOrders,
    OutOfStock,
    StockLimitExceeded,
    TooSoon,
    UnknownItem,
    UnknownOrder,
    UnknownUser,
)
from entrypoints.api.consistency import HEADER as CONSISTENCY_HEADER
from entrypoints.api.paths import allowed_methods
from entrypoints.api.request_id import HEADER as REQUEST_ID_HEADER
from entrypoints.api.request_id import STATE_KEY
from entrypoints.api.token_errors import TokenRequestRefused
from entrypoints.api.validation_problems import without_input
from service_layer.errors import (
    DatabaseUnavailable,
    MalformedReadPosition,
    Overloaded,
    TransientConflict,
)

log = logging.getLogger(__name__)
# Why a request was refused, at the level worth reading it; never the token, the password or
# the body. Authentication and authorization refusals at INFO, other client errors at DEBUG.
_REJECTION_LEVELS = {
    status.HTTP_401_UNAUTHORIZED: logging.INFO,
    status.HTTP_403_FORBIDDEN: logging.INFO,
    status.HTTP_429_TOO_MANY_REQUESTS: logging.INFO,
}

NO_STORE = {"Cache-Control": "no-store"}

# The lookup walks each error's MRO, so a subclass inherits its parent's status.
STATUS_BY_ERROR: dict[type[Exception], int] = {
    UnknownItem: status.HTTP_404_NOT_FOUND,
    UnknownUser: status.HTTP_404_NOT_FOUND,
    UnknownOrder: status.HTTP_404_NOT_FOUND,
    OutOfStock: status.HTTP_409_CONFLICT,
    StockLimitExceeded: status.HTTP_409_CONFLICT,
    IllegalTransition: status.HTTP_409_CONFLICT,
    ItemHasOrders: status.HTTP_409_CONFLICT,
    DuplicateSku: status.HTTP_409_CONFLICT,
    EmailTaken: status.HTTP_409_CONFLICT,
    InvalidCredentials: status.HTTP_401_UNAUTHORIZED,
    # Not 401: the token is fine, and a client told 401 would drop it and log out.
    IncorrectPassword: status.HTTP_403_FORBIDDEN,
    TooSoon: status.HTTP_429_TOO_MANY_REQUESTS,
    InvalidValue: status.HTTP_422_UNPROCESSABLE_CONTENT,
    DomainError: status.HTTP_409_CONFLICT,
}


def status_for(error: Exception) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


async def _domain_error(_request: Request, error: Exception) -> JSONResponse:
    if isinstance(error, InvalidValue):
        log.debug("422: %s on %s", type(error).__name__, error.field or "body")
        return _unprocessable(error)
    code = status_for(error)
    # A failed login is worth seeing (guessing shows up as a run of them); the rest are the
    # domain saying no, which the access line's status already tells. The error's type only:
    # messages may carry SKUs or other client input.
    log.log(_REJECTION_LEVELS.get(code, logging.DEBUG), "%d: %s", code, type(error).__name__)
    headers = dict(NO_STORE)
    if code == status.HTTP_401_UNAUTHORIZED:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(error, TooSoon):
        headers["Retry-After"] = str(error.retry_after)
    content: dict[str, Any] = {"detail": str(error)}
    if isinstance(error, OutOfStock):
        content["skus"] = error.skus  # machine-readable, for a client that adjusts its cart
    return JSONResponse(status_code=code, content=content, headers=headers)


def _unprocessable(error: InvalidValue) -> JSONResponse:
    """A domain rule refused a value: the same 422 shape as request validation, so a client
    (or a generated SDK) parses one kind of 422 whichever layer caught the problem."""
    location = ["body", error.field] if error.field else ["body"]
    problem = {"type": "value_error", "loc": location, "msg": str(error)}
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": [problem]},
        headers=NO_STORE,
    )


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    """422 with where and why, but never the offending input (``validation_problems``).

    FastAPI's default echoes each bad value back, which fails on NaN/Infinity (a 500) and
    would hand a rejected password back to whoever sent it, or to a log that captures bodies.
    """
    assert isinstance(error, RequestValidationError)
    detail = [without_input(problem) for problem in error.errors()]
    if log.isEnabledFor(logging.DEBUG):  # where and which rule, as told: never the value
        where = ", ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['type']}" for problem in detail
        )
        log.debug("422: %s", where)
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        content={"detail": detail},
        headers=NO_STORE,
    )


async def _token_refused(_request: Request, error: Exception) -> JSONResponse:
    """``POST /token`` refused in OAuth 2.0's form (``token_errors``). A failed login at
    INFO, as the other authentication refusals; a malformed request at DEBUG."""
    assert isinstance(error, TokenRequestRefused)
    level = logging.INFO if error.error == "invalid_grant" else logging.DEBUG
    log.log(level, "400: %s", error.error)
    return JSONResponse(
        status_code=status.HTTP_400_BAD_REQUEST, content=error.body(), headers=NO_STORE
    )


RETRY_AFTER_SECONDS = 1


async def _unavailable(_request: Request, error: Exception) -> JSONResponse:
    """The database is unreachable, exhausted or contended: the request was fine and may be
    sent again shortly, so 503 with Retry-After, never a 500 and never a hang."""
    # The message names the cause (no free connection, refused, shutting down): written by
    # our classification or the driver, never with statement parameters.
    log.warning("503: %s: %s", type(error).__name__, error)
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": "the service is temporarily unavailable; retry shortly"},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), **NO_STORE},
    )


async def _malformed_position(_request: Request, error: Exception) -> JSONResponse:
    """A consistency token no write returned: 400, never a guess at what was meant, and not
    the token either (the exception's text quotes it)."""
    log.debug("400: %s", type(error).__name__)  # not the token: it is client input
    detail = f"malformed read position in {CONSISTENCY_HEADER}: send back what a write returned"
    return JSONResponse(
        status_code=status.HTTP_400_BAD_REQUEST, content={"detail": detail}, headers=NO_STORE
    )


async def _internal_error(request: Request, _error: Exception) -> JSONResponse:
    """A bug: JSON like every other error, and nothing about its cause (the traceback is
    logged by the server). Starlette answers it outside every middleware, so the request id
    header is added here, from what the request-id middleware left in the request's state."""
    given = getattr(request.state, STATE_KEY, None)
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "internal server error"},
        headers={REQUEST_ID_HEADER: given, **NO_STORE} if given else NO_STORE,
    )


# FastAPI answers a body it cannot decode (not UTF-8, nested too deep, a 5000-digit number)
# with a bare HTTPException(400) carrying this text; nothing else in the app raises it.
_UNPARSEABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == status.HTTP_400_BAD_REQUEST and error.detail == _UNPARSEABLE_BODY:
        log.debug("422: request body is not valid JSON")
        # One kind of 422 for every malformed body, as the OpenAPI document promises.
        problem = {"type": "json_invalid", "loc": ["body"], "msg": "request body is not valid JSON"}
        return JSONResponse(
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            content={"detail": [problem]},
            headers=NO_STORE,
        )
    if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        # Starlette's Allow names the methods of one route only (``paths.py``).
        headers = {**(error.headers or {}), "Allow": allowed_methods(request), **NO_STORE}
        return JSONResponse({"detail": error.detail}, status_code=405, headers=headers)
    # The details are our own texts ("invalid or expired token", "admins only", "Not Found",
    # readiness's reason), never the token or anything else the client sent.
    level = _REJECTION_LEVELS.get(error.status_code, logging.DEBUG)
    log.log(level, "%d: %s", error.status_code, error.detail)
    response = await http_exception_handler(request, error)
    response.headers.update(NO_STORE)
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_exception_handler(TransientConflict, _unavailable)
    app.add_exception_handler(Overloaded, _unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(TokenRequestRefused, _token_refused)
    app.add_exception_handler(MalformedReadPosition, _malformed_position)
