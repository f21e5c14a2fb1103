"""A request id on every request: echoed in ``X-Request-ID`` and attached to every log line.

Pure ASGI middleware (not ``BaseHTTPMiddleware``): it adds no task or body buffering, and it
does not interfere with streaming responses or cancellation. ``RequestIdFilter`` puts the id
on log records; ``entrypoints.logging_config`` installs it for our loggers and uvicorn's.
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
# A client's id is kept only if it is short and plain, so logs cannot be forged or flooded.
_ACCEPTABLE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

request_id: ContextVar[str] = ContextVar("request_id", default="-")
STATE_KEY = "request_id"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        current = given if _ACCEPTABLE.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(current)
        # Also in the request's state, for the 500 handler: it runs after this middleware has
        # been left (Starlette's ServerErrorMiddleware is outside it), with the scope only.
        scope.setdefault("state", {})[STATE_KEY] = current

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = current
            await send(message)

        await self.app(scope, receive, send_with_id)
        # Reset only when the app returned. When an exception escapes, the lines that matter
        # most come after we are left: Starlette's ServerErrorMiddleware (outside us) sends the
        # 500, so uvicorn writes its access line, then uvicorn logs the traceback ("Exception
        # in ASGI application"); both must carry the id. Leaving it set leaks nothing: uvicorn
        # runs each request in its own task, with its own copy of the context, which ends
        # with the request; and the next request sets its own id before anything logs. (An
        # in-process client, httpx's ASGITransport, runs the app in the caller's task: there
        # the id of a request that raised stays in the caller's context.)
        request_id.reset(token)


# What a line logged outside any request shows as its request id in the text format.
NO_REQUEST = "-"


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record, so a format string can use ``%(request_id)s``.

    Installed on the handler, not on loggers: a handler's filter sees the records of every
    logger that propagates to it (ours, uvicorn's, the libraries'), a logger's only its own.
    ``outside_requests``: the value when no request is running (``None`` for JSON's null).
    """

    def __init__(self, outside_requests: str | None = NO_REQUEST) -> None:
        super().__init__()
        self.outside_requests = outside_requests

    def filter(self, record: logging.LogRecord) -> bool:
        current = request_id.get(None)
        record.request_id = self.outside_requests if current is None else current
        return True
