"""A request id on every request: echoed in ``X-Request-ID`` and attached to every log line.

Pure ASGI middleware (not ``BaseHTTPMiddleware``): it adds no task or body buffering, and it
does not interfere with streaming responses or cancellation.
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

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts ``request_id`` on every record, so a format string can use ``%(request_id)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def configure_logging(level: str = "INFO") -> None:
    """Our loggers write to stderr with the request id on every line (uvicorn keeps its own)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [request %(request_id)s] %(message)s")
    )
    for name in ("domain", "adapters", "service_layer", "entrypoints"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
