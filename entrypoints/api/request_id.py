"""Request ids: echoed in ``X-Request-ID`` and attached to every log line.

The request layer (``entrypoints/api/request_layer.py``) gives each request its id;
``RequestIdFilter`` puts it on log records (``entrypoints.logging_config`` installs it for our
loggers and the server's).
"""

from __future__ import annotations

import logging
import re
from contextvars import ContextVar

HEADER = "X-Request-ID"
HEADER_KEY = HEADER.lower().encode()
# A client's id is kept only if it is short and plain, so logs cannot be forged or flooded.
ACCEPTABLE = re.compile(rb"[A-Za-z0-9._-]{1,64}")

request_id: ContextVar[str] = ContextVar("request_id", default="-")
# Also in the request's state, for the 500 handler: it runs after the request layer has been
# left (Starlette's ServerErrorMiddleware is outside it), with the scope only.
STATE_KEY = "request_id"


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
