"""uvicorn's protocol with our guard, fed byte strings as the event loop would feed them (no
socket): an app that records what reached it, and a transport that records what was written."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.server import ServerState

from entrypoints.api.header_guard import HeaderLimitedHttpToolsProtocol

LIMIT = 8 * 1024
HEAD_SECONDS = 0.05  # short, so the deadline's tests wait milliseconds


class App:
    """Records each request's headers and body; answers 200, after the body unless told to
    answer at once. ``hold`` keeps each request unanswered until it is set."""

    def __init__(self, *, read_body: bool = True) -> None:
        self.read_body = read_body
        self.headers: list[dict[bytes, bytes]] = []
        self.bodies: list[bytes] = []
        self.hold = asyncio.Event()
        self.hold.set()

    @property
    def requests(self) -> int:
        return len(self.headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.headers.append(dict(scope["headers"]))
        body = b""
        while self.read_body:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        await self.hold.wait()
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
    def __init__(self, app: App | None = None, head_seconds: float = HEAD_SECONDS) -> None:
        self.app = app or App()
        config = Config(app=self.app, log_config=None, access_log=False)
        self.state = ServerState()
        self.protocol = HeaderLimitedHttpToolsProtocol(
            config, self.state, {}, max_header_bytes=LIMIT, request_head_seconds=head_seconds
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
        is done. Bounded: an app left waiting for the rest of a body fails the test."""
        async with asyncio.timeout(2):
            while self.state.tasks:
                await asyncio.gather(*self.state.tasks)

    def lose(self) -> None:
        """The event loop's side of a close: the connection is gone."""
        self.protocol.connection_lost(None)

    def status_lines(self) -> list[bytes]:
        return [line for line in self.transport.written.split(b"\r\n") if line.startswith(b"HTTP/")]

    @property
    def refused(self) -> bool:
        return self.transport.written.startswith(b"HTTP/1.1 431 ")
