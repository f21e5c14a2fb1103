"""Refuse an oversized request body before anything parses it, with a JSON 413.

The one body-size limit of the API, outermost: a body announced by ``Content-Length`` alone is
judged from the header (the server never delivers more than it announced); any other body
(chunked, or with no length given) is read here up to the limit and handed on only if it fits.
FastAPI's own ``max_body_size`` is not used: it wraps the app, every router and every route in
two more layers each (paid by every request: docs/session-lifecycle.md), and answers an
announced oversize in plain text where every error of this API is JSON.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodySizeGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        announced, chunked = _framing(scope)
        if announced is not None and not chunked:
            if announced > self.max_body_bytes:
                await self._refuse(send)
                return
            await self.app(scope, receive, send)
            return
        # Chunked (which overrides any Content-Length, RFC 9112 6.3), or no length at all
        # (HTTP/2, or simply no body): nobody vouched for the size, so count it here.
        buffered = await self._read_up_to_limit(receive)
        if buffered is None:
            await self._refuse(send)
            return
        await self.app(scope, _replay(buffered, receive), send)

    async def _read_up_to_limit(self, receive: Receive) -> list[Message] | None:
        """The body's messages, or ``None`` as soon as it grows past the limit."""
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # the client went away; the app sees that as usual
            size += len(message.get("body", b""))
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, send: Send) -> None:
        body = json.dumps(
            {"detail": f"request body larger than {self.max_body_bytes} bytes"}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """(Content-Length if announced and valid, whether the body is chunked)."""
    announced: int | None = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                announced = int(value)
            except ValueError:
                announced = None
        elif name == b"transfer-encoding":
            chunked = True
    return announced, chunked


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
