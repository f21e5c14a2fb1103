"""The request layer's body limit at the ASGI level: whatever the framing, no body over the
limit gets in; a request that has no body costs no reading."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from entrypoints.api.request_layer import RequestLayer

LIMIT = 1024


class App:
    """Records what reached it: the body it read, message by message."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def scope(*headers: tuple[bytes, bytes], http_version: str = "2") -> Scope:
    """HTTP/2 unless said otherwise: there, no length means "unknown", not "none"."""
    return {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": list(headers),
        "http_version": http_version,
    }


def chunks(body: bytes, size: int = 300) -> Receive:
    pieces = [body[start : start + size] for start in range(0, len(body), size)] or [b""]
    messages: list[Message] = [
        {"type": "http.request", "body": piece, "more_body": index < len(pieces) - 1}
        for index, piece in enumerate(pieces)
    ]

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


async def run(request_scope: Scope, receive: Receive) -> tuple[App, list[Message]]:
    app, sent = App(), []

    async def send(message: Message) -> None:
        sent.append(message)

    await RequestLayer(app, max_body_bytes=LIMIT, request_ids=True, metrics=False)(
        request_scope, receive, send
    )
    return app, sent


def status_and_detail(sent: list[Message]) -> tuple[int, Any]:
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return sent[0]["status"], json.loads(body) if sent[0]["status"] == 413 else body


@pytest.mark.parametrize(
    "headers",
    [
        [(b"content-length", str(LIMIT + 1).encode())],
        [(b"transfer-encoding", b"chunked")],
        # Chunked framing overrides Content-Length (RFC 9112 6.3); some servers deliver the
        # chunked body, so the small Content-Length must not vouch for it.
        [(b"content-length", b"5"), (b"transfer-encoding", b"chunked")],
        [],  # no length at all (HTTP/2, say)
    ],
    ids=["announced", "chunked", "chunked with a small content-length", "unannounced"],
)
async def test_a_body_over_the_limit_never_reaches_the_app(
    headers: list[tuple[bytes, bytes]],
) -> None:
    app, sent = await run(scope(*headers), chunks(b"x" * (LIMIT + 1)))

    assert not app.called
    status, detail = status_and_detail(sent)
    assert status == 413
    assert detail == {"detail": f"request body larger than {LIMIT} bytes"}


@pytest.mark.parametrize(
    "headers",
    [[(b"content-length", str(LIMIT).encode())], [(b"transfer-encoding", b"chunked")], []],
    ids=["announced", "chunked", "unannounced"],
)
async def test_a_body_up_to_the_limit_reaches_the_app_whole(
    headers: list[tuple[bytes, bytes]],
) -> None:
    body = bytes(range(256)) * (LIMIT // 256)
    app, sent = await run(scope(*headers), chunks(body))

    assert app.called
    assert app.body == body
    assert status_and_detail(sent) == (200, b"ok")


async def test_an_http_1_request_without_length_or_chunking_has_no_body_to_read() -> None:
    """RFC 9112 6.3: such a request has no body, so nothing is read before the app runs."""
    read = []

    async def receive() -> Message:
        read.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    app, sent = await run(scope(http_version="1.1"), receive)

    assert app.called
    assert len(read) == 1  # the app's own read, not the layer's
    assert status_and_detail(sent) == (200, b"ok")


async def test_a_413_carries_the_request_id() -> None:
    headers = [(b"content-length", str(LIMIT + 1).encode()), (b"x-request-id", b"req-413")]
    _, sent = await run(scope(*headers), chunks(b""))

    assert sent[0]["status"] == 413
    assert (b"x-request-id", b"req-413") in sent[0]["headers"]
