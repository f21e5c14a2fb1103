"""The API's one body-size limit: what the request layer does with a body it cannot vouch for,
and the JSON 413 it answers when a body is too large.

A body announced by ``Content-Length`` alone is judged from the header by the request layer
(the server never delivers more than it announced); a chunked body (which overrides any
Content-Length, RFC 9112 6.3), or one with no length on a protocol where that means "unknown"
(HTTP/2), is read here up to the limit and handed on only if it fits. FastAPI's own
``max_body_size`` is not used: it wraps the app, every router and every route in two more
layers each, and answers an announced oversize in plain text where every error of this API
is JSON.
"""

from __future__ import annotations

import json

from starlette.types import Message, Receive, Send


async def read_up_to(limit: int, receive: Receive) -> Receive | None:
    """The body's messages, replayed, or ``None`` as soon as it grows past ``limit``."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break  # the client went away; the app sees that as usual
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            break

    async def replayed() -> Message:
        return messages.pop(0) if messages else await receive()

    return replayed


async def refuse(limit: int, send: Send) -> None:
    body = json.dumps({"detail": f"request body larger than {limit} bytes"}).encode()
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
