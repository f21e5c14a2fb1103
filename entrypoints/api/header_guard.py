"""Refuse a request whose header section is too large, in the server, before it is buffered.

uvicorn's httptools protocol (the fast parser, and what ``stockroom serve`` uses) sets no
limit: a 32 MiB header value is read to its end and held in memory, and only then does the
app see a request. Nothing in the app can help (an ASGI middleware runs after the parser has
buffered everything), so the limit lives in the protocol: this subclass counts the header
bytes as they arrive and, past ``STOCKROOM_MAX_HEADER_BYTES``, answers 431 with the API's JSON
error shape, closes the connection and logs one line. h11, uvicorn's other parser, has a
limit (``h11_max_incomplete_event_size``) but answers it with a plain-text 400 and parses in
pure Python (README, "Request limits").

What is counted: every read that lies wholly inside a header section (it began there, or
began the message, and the headers are still incomplete after it), plus, as the parser hands
them over, the request target and each ``name: value`` line. Both are lower bounds of the
bytes received, so nothing under the limit is ever refused, and an endless header is cut
off within one read (256 KB at most) of the limit rather than when it ends.
"""

from __future__ import annotations

import asyncio
import json
import logging
from functools import cache
from typing import Any, Literal

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from entrypoints.settings import Settings

log = logging.getLogger(__name__)

Phase = Literal["idle", "headers", "body"]
# ":" or ": " between name and value, then CRLF: at least 3 bytes besides name and value.
_FIELD_OVERHEAD = 3


@cache
def configured_max_header_bytes() -> int:
    """Read once per worker process, from the same settings as the app."""
    return Settings().max_header_bytes


class HeaderLimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header size limit; one instance per connection."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_bytes: int | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if max_header_bytes is None:
            max_header_bytes = configured_max_header_bytes()
        self.max_header_bytes = max_header_bytes
        self._phase: Phase = "idle"
        self._messages_begun = 0  # during the current read
        self._read_in_headers = 0  # bytes of reads wholly inside this header section
        self._fields = 0  # the target and the header lines parsed so far
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the connection is closing; read nothing more
        phase_before, self._messages_begun = self._phase, 0
        super().data_received(data)
        if self._refused or self._phase != "headers":
            return
        # Whole reads only: a read that began inside another message's body holds some of
        # that body too, and counting it could refuse a request that is within the limit.
        began_the_message = phase_before == "idle" and self._messages_begun == 1
        continued_it = phase_before == "headers" and self._messages_begun == 0
        if began_the_message or continued_it:
            self._read_in_headers += len(data)
        if max(self._read_in_headers, self._fields) > self.max_header_bytes:
            self._refuse()

    # The parser's callbacks. After a refusal the parser may still be working through the
    # rest of the read it was given: nothing of it reaches the app.

    def on_message_begin(self) -> None:
        if self._refused:
            return
        self._phase, self._read_in_headers, self._fields = "headers", 0, 0
        self._messages_begun += 1
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._refused:
            return
        self._fields += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._refused:
            return
        self._fields += len(name) + len(value) + _FIELD_OVERHEAD
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._phase = "body"
        if self._fields > self.max_header_bytes:
            self._refuse()  # before a request cycle exists: the app never sees it
            return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._phase = "idle"
        super().on_message_complete()

    def _refuse(self) -> None:
        self._refused = True
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        # A request still being answered on this connection (pipelining) owns the socket:
        # a 431 written now would land inside its response, so that one only gets the close.
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy:
            self.transport.write(self._431())
        log.warning(
            "refused a request from %s: its header fields exceed STOCKROOM_MAX_HEADER_BYTES "
            "(%d bytes); %s",
            client,
            self.max_header_bytes,
            "closed the connection" if busy else "answered 431 and closed the connection",
        )
        self.transport.close()

    def _431(self) -> bytes:
        detail = f"request header fields are larger than {self.max_header_bytes} bytes"
        body = json.dumps({"detail": detail}).encode()
        head = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        return b"".join(head) + body
