"""The header size limit inside uvicorn's protocol, fed byte strings as the event loop would
feed them (no socket): where the limit falls, how early an endless header is cut off, and
that a read carrying another request's body is never held against the next one's headers.
The real server over real sockets: tests/integration/test_header_limit.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from entrypoints.api.header_guard import HeaderLimitedHttpToolsProtocol

LIMIT = 8 * 1024


class App:
    """Counts the requests that reached it and answers each with 200."""

    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.requests += 1
        while (await receive()).get("more_body", False):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Transport(asyncio.Transport):
    """What the protocol wrote and whether it closed; reading is always on."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Connection:
    def __init__(self) -> None:
        self.app = App()
        config = Config(app=self.app, log_config=None, access_log=False)
        self.state = ServerState()
        self.protocol = HeaderLimitedHttpToolsProtocol(
            config, self.state, {}, max_header_bytes=LIMIT
        )
        self.transport = Transport()
        self.protocol.connection_made(self.transport)

    def feed(self, data: bytes, read_size: int) -> None:
        for start in range(0, len(data), read_size):
            if self.transport.closed:
                return
            self.protocol.data_received(data[start : start + read_size])

    async def settled(self) -> None:
        """Every request the protocol took has been answered: uvicorn runs each as a task of
        its own (in ``ServerState.tasks``), and starts a pipelined one when the one before it
        is done."""
        while self.state.tasks:
            await asyncio.gather(*self.state.tasks)

    @property
    def refused(self) -> bool:
        return self.transport.written.startswith(b"HTTP/1.1 431 ")


def header_section(size: int, *, end: bool = True) -> bytes:
    """A GET whose header section is ``size`` bytes long, request line included."""
    start = b"GET /items/ HTTP/1.1\r\nHost: x\r\nX-Padding: "
    padding = size - len(start) - len(b"\r\n\r\n")
    return start + b"a" * padding + (b"\r\n\r\n" if end else b"")


@pytest.mark.parametrize("read_size", [1000, 64 * 1024])
async def test_a_header_section_within_the_limit_reaches_the_app(read_size: int) -> None:
    connection = Connection()

    connection.feed(header_section(LIMIT), read_size)
    await connection.settled()

    assert not connection.transport.written.startswith(b"HTTP/1.1 431")
    assert connection.app.requests == 1


@pytest.mark.parametrize("read_size", [1000, 64 * 1024])
async def test_a_header_section_over_the_limit_is_refused_with_a_json_431(
    read_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    connection = Connection()

    connection.feed(header_section(LIMIT + 100), read_size)
    await connection.settled()

    assert connection.refused
    assert connection.transport.closed
    head, _, body = connection.transport.written.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head
    assert json.loads(body) == {"detail": f"request header fields are larger than {LIMIT} bytes"}
    assert connection.app.requests == 0
    assert "exceed STOCKROOM_MAX_HEADER_BYTES (8192 bytes)" in caplog.text


async def test_an_endless_header_is_cut_off_within_one_read_of_the_limit() -> None:
    connection = Connection()
    read_size = 1000
    fed = 0

    connection.protocol.data_received(header_section(200, end=False))
    while not connection.transport.closed and fed < 100 * LIMIT:
        connection.protocol.data_received(b"a" * read_size)
        fed += read_size

    assert connection.refused
    assert fed <= LIMIT + read_size


async def test_a_read_ending_another_requests_body_is_not_counted_as_headers() -> None:
    # Pipelining: one read holds the end of a large body and the start of the next request.
    connection = Connection()
    body = b"b" * (4 * LIMIT)
    post = b"POST /items/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    connection.protocol.data_received(post)

    connection.protocol.data_received(body + b"GET /items/ HTTP/1.1\r\nHost: x\r\nX-A: a")
    connection.protocol.data_received(b"a\r\n\r\n")
    await connection.settled()

    assert not connection.refused
    assert connection.app.requests == 2


async def test_keep_alive_requests_are_each_measured_on_their_own() -> None:
    connection = Connection()
    keep_alive = header_section(LIMIT - 100)

    for _ in range(3):
        connection.feed(keep_alive, 3000)
        await connection.settled()

    assert not connection.refused
    assert connection.app.requests == 3
