"""Read-your-writes across replicas: the consistency token, out on writes and back on reads.

Every response to a request whose unit of work committed carries ``X-Consistency-Token``: the
position of that commit (``AbstractUnitOfWork.position``; only with replicas configured). A
read that sends it back in the same header is served by a replica that has replayed that far,
or by the primary. So a client always sees its own writes, and never goes back in time if it
always sends the newest token it got: consistent per client and monotonic, not linearizable
across clients (another client's write may not be visible yet).

A header, not a cookie: the API authenticates with bearer tokens, not cookies, and a cookie
would travel on requests the client did not mean to make fresh. A browser client reads the
header (exposed to scripts where CORS is configured) and sends it back.
"""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service_layer.unit_of_work import AbstractUnitOfWork

HEADER = "X-Consistency-Token"
_UNITS = "units_of_work"  # the request's units, in request.state (the scope's "state")


def remember(request: Request, uow: AbstractUnitOfWork) -> AbstractUnitOfWork:
    """Note ``uow`` as one of this request's units, so the response can carry its position."""
    units: list[AbstractUnitOfWork] = request.scope.setdefault("state", {}).setdefault(_UNITS, [])
    units.append(uow)
    return uow


def read_position(request: Request) -> str | None:
    return request.headers.get(HEADER)


class ConsistencyTokenMiddleware:
    """Adds the newest committed position of the request's units to its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_position(message: Message) -> None:
            if message["type"] == "http.response.start":
                units = scope.get("state", {}).get(_UNITS, [])
                positions = [unit.position for unit in units if unit.position is not None]
                if positions:
                    MutableHeaders(scope=message)[HEADER] = positions[-1]
            await send(message)

        await self.app(scope, receive, send_with_position)
