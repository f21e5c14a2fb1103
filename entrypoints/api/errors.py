"""One place that maps domain and service errors to HTTP status codes."""

from __future__ import annotations

import logging
import math
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
    UnknownItem,
    UnknownOrder,
    UnknownUser,
)
from domain.login_throttle import TooManyFailedLogins
from entrypoints.api.paths import allowed_methods
from entrypoints.api.request_id import HEADER as REQUEST_ID_HEADER
from entrypoints.api.request_id import STATE_KEY
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
    TooManyFailedLogins: status.HTTP_429_TOO_MANY_REQUESTS,
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
    headers = {"WWW-Authenticate": "Bearer"} if code == status.HTTP_401_UNAUTHORIZED else None
    if isinstance(error, TooManyFailedLogins):
        headers = {"Retry-After": str(error.retry_after)}
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
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": [problem]}
    )


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


async def _validation_error(_request: Request, error: Exception) -> JSONResponse:
    """422 with where and why, but never the offending input.

    FastAPI's default echoes each bad value back, which fails on NaN/Infinity (a 500) and
    would hand a rejected password back to whoever sent it, or to a log that captures bodies.
    """
    assert isinstance(error, RequestValidationError)
    if log.isEnabledFor(logging.DEBUG):  # where and which rule: never the value
        where = ", ".join(
            f"{'.'.join(map(str, problem.get('loc', ())))}: {problem.get('type')}"
            for problem in error.errors()
        )
        log.debug("422: %s", where)
    detail = [
        {
            key: _json_safe(value)
            for key, value in problem.items()
            if key in {"type", "loc", "msg", "ctx"}
        }
        for problem in error.errors()
    ]
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": detail}
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
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


async def _malformed_position(_request: Request, error: Exception) -> JSONResponse:
    """A consistency token no write returned: 400, never a guess at what was meant."""
    log.debug("400: %s", type(error).__name__)  # not the token: it is client input
    return JSONResponse(status_code=status.HTTP_400_BAD_REQUEST, content={"detail": str(error)})


async def _internal_error(request: Request, _error: Exception) -> JSONResponse:
    """A bug: JSON like every other error, and nothing about its cause (the traceback is
    logged by the server). Starlette answers it outside every middleware, so the request id
    header is added here, from what the request-id middleware left in the request's state."""
    given = getattr(request.state, STATE_KEY, None)
    return JSONResponse(
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
        content={"detail": "internal server error"},
        headers={REQUEST_ID_HEADER: given} if given else None,
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
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": [problem]}
        )
    if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        # Starlette's Allow names the methods of one route only (``paths.py``).
        headers = {**(error.headers or {}), "Allow": allowed_methods(request)}
        return JSONResponse({"detail": error.detail}, status_code=405, headers=headers)
    # The details are our own texts ("invalid or expired token", "admins only", "Not Found",
    # readiness's reason), never the token or anything else the client sent.
    level = _REJECTION_LEVELS.get(error.status_code, logging.DEBUG)
    log.log(level, "%d: %s", error.status_code, error.detail)
    return await http_exception_handler(request, error)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Exception, _internal_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DatabaseUnavailable, _unavailable)
    app.add_exception_handler(TransientConflict, _unavailable)
    app.add_exception_handler(Overloaded, _unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(MalformedReadPosition, _malformed_position)
