"""Read-your-writes across replicas: the consistency token, out on writes and back on reads.

Only with replicas configured does the app carry this layer (``entrypoints/api/app.py``).
Every 2xx response to a write (any method but GET, HEAD and OPTIONS) carries
``X-Consistency-Token``: the primary's WAL position as the response starts, which covers the
write's commit. Only 2xx: in this API a write route answers 2xx only when its unit of work
committed, and nothing else commits anything the client could read back (a failed login
records the failure, which no client reads), so a 3xx (a trailing-slash redirect, sent
before any route runs), 4xx or 5xx carries no token: the primary's write position is not
handed to whoever asks.

A request that sends the token back in the same header reads from a replica that has
replayed that far, or from the primary (``adapters.replicas``). So a client always sees its
own writes, and never goes back in time if it always sends the newest token it got:
consistent per client and monotonic, not linearizable across clients (another client's write
may not be visible yet).

A header, not a cookie: the API authenticates with bearer tokens, not cookies, and a cookie
would travel on requests the client did not mean to make fresh. A browser client reads the
header (exposed to scripts where CORS is configured) and sends it back.
"""

from __future__ import annotations

import logging

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.reads import StatementReader
from adapters.replicas import position_now, read_after

log = logging.getLogger(__name__)
HEADER = "X-Consistency-Token"
_HEADER_KEY = HEADER.lower().encode()
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


class ConsistencyTokens:
    """Reads the request's token into ``read_after``; adds the primary's position to the 2xx
    response of a write."""

    def __init__(self, app: ASGIApp, primary: StatementReader) -> None:
        self.app = app
        self.primary = primary

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope["headers"]).get(_HEADER_KEY)
        token = read_after.set(sent.decode("latin-1") if sent is not None else None)

        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                try:
                    MutableHeaders(scope=message)[HEADER] = await position_now(self.primary)
                except Exception:
                    # The write stands; only read-your-writes through replicas is lost for it.
                    log.warning("the primary's position could not be read", exc_info=True)
            await send(message)

        try:
            writes = scope["method"] not in _READS
            await self.app(scope, receive, send_with_position if writes else send)
        finally:
            read_after.reset(token)
