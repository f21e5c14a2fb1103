"""What uvicorn's httptools protocol (``stockroom serve``'s) leaves unbounded, enforced in the
server before anything is buffered (no ASGI middleware can: it runs after the parser):

- Size: header plus trailer fields over ``STOCKROOM_MAX_HEADER_BYTES`` get a JSON 431, the
  close and one log line. httptools holds a field's value (a trailer's too) until it ends:
  a 32 MiB header, or a 100 MiB trailer, was held whole.
- Trailers never reach the app (uvicorn appended them to the headers: an ``Authorization``
  trailer authenticated). They are dropped, as RFC 9110 6.5.1 allows, but counted.
- Time: a head must be complete ``STOCKROOM_REQUEST_HEAD_SECONDS`` after the connection's
  start or its first byte, else 408 and the close (slowloris; entrypoints/api/head_deadline.py).

What is counted: every read wholly inside a header or trailer section, plus, as the parser
hands them over, the request target and each ``name: value`` line. Both are lower bounds of
the bytes received, so nothing under the limit is refused, and an endless field is cut off
within one read (256 KB at most) of it. A read is wholly trailer when it follows a chunk
header and yields no body: a non-empty chunk's bytes are handed over at once (``on_body``),
and after the last (empty) chunk's header come only trailers, until the message completes.
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

from entrypoints.api.head_deadline import HeadDeadline
from entrypoints.settings import Settings

log = logging.getLogger(__name__)

Phase = Literal["idle", "headers", "body"]  # "body" runs to the end of any trailers
# ":" or ": " between name and value, then CRLF: at least 3 bytes besides name and value.
_FIELD_OVERHEAD = 3


@cache
def worker_settings() -> Settings:
    """Read once per worker process, from the same settings as the app."""
    return Settings()


class HeaderLimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a limit on header plus trailer bytes, no trailers
    for the app, and a deadline for each request's head; one instance per connection."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        max_header_bytes: int | None = None,
        request_head_seconds: float | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if max_header_bytes is None:
            max_header_bytes = worker_settings().max_header_bytes
        if request_head_seconds is None:
            request_head_seconds = worker_settings().request_head_seconds
        self.max_header_bytes = max_header_bytes
        self.head_deadline = HeadDeadline(self.loop, request_head_seconds, self._head_too_slow)
        self._phase: Phase = "idle"
        self._messages_begun = 0  # during the current read
        self._read_in_headers = 0  # bytes of reads wholly inside this header section
        self._fields = 0  # the target and the header lines parsed so far
        self._read_in_trailers = 0  # bytes of reads wholly inside this trailer section
        self._trailer_fields = 0  # the trailer lines parsed so far
        self._chunk_without_body = False  # a chunk header was parsed, and no body since
        self._closing = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_deadline.start()

    def connection_lost(self, exc: Exception | None) -> None:
        self.head_deadline.stop()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return  # the connection is closing; read nothing more
        phase_before, self._messages_begun = self._phase, 0
        in_trailers_before = phase_before == "body" and self._chunk_without_body
        if phase_before == "idle" and self._answered_all():
            # The next request's first byte (or an empty line before it): its head's time
            # starts. While a response is still due, uvicorn's keep-alive timer is not armed
            # yet and a stray CRLF after a body is no head: once it is, that timer covers it.
            self.head_deadline.start()
        super().data_received(data)
        if self._closing or self._phase == "idle":
            return
        # Whole reads only: a read that began inside another message's body holds some of
        # that body too, and counting it could refuse a request that is within the limit.
        if self._phase == "headers":
            began_the_message = phase_before == "idle" and self._messages_begun == 1
            continued_it = phase_before == "headers" and self._messages_begun == 0
            if began_the_message or continued_it:
                self._read_in_headers += len(data)
        elif in_trailers_before and self._chunk_without_body and self._messages_begun == 0:
            self._read_in_trailers += len(data)
        if self._counted_bytes() > self.max_header_bytes:
            self._refuse_too_large()

    # The parser's callbacks. After a refusal the parser may still be working through the
    # rest of the read it was given: nothing of it reaches the app.

    def on_message_begin(self) -> None:
        if self._closing:
            return
        self._phase, self._read_in_headers, self._fields = "headers", 0, 0
        self._read_in_trailers, self._trailer_fields = 0, 0
        self._chunk_without_body = False
        self._messages_begun += 1
        self.head_deadline.start()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        if self._closing:
            return
        self._fields += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._closing:
            return
        size = len(name) + len(value) + _FIELD_OVERHEAD
        if self._phase == "headers":
            self._fields += size
            super().on_header(name, value)
        else:
            self._trailer_fields += size  # checked against the limit when the message ends
            log.debug("dropped the trailer field %r of a request from %s", name, self._client())

    def on_headers_complete(self) -> None:
        if self._closing:
            return
        self.head_deadline.stop()
        if self._counted_bytes() > self.max_header_bytes:
            self._refuse_too_large()  # before a request cycle exists: the app never sees it
            return
        self._phase = "body"
        super().on_headers_complete()

    def on_chunk_header(self) -> None:
        self._chunk_without_body = True

    def on_body(self, body: bytes) -> None:
        self._chunk_without_body = False
        if not self._closing:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._closing:
            return
        if self._counted_bytes() > self.max_header_bytes:
            self._refuse_too_large()  # the last trailer field, handed over just now
            return
        self._phase = "idle"
        super().on_message_complete()

    def _counted_bytes(self) -> int:
        """A lower bound of the header plus trailer bytes of the current request."""
        head = max(self._read_in_headers, self._fields)
        return head + max(self._read_in_trailers, self._trailer_fields)

    def _answered_all(self) -> bool:
        """No response is due on this connection: a status line written now is nobody's."""
        return self.cycle is None or self.cycle.response_complete

    def _may_answer(self) -> bool:
        """Whether a response written now is the answer to the request being cut off, not
        bytes inside another response (pipelining: that one only gets the close)."""
        if self._phase == "body":
            # The request has its cycle: answer unless its app did, or another is queued.
            return not self.pipeline and not self.cycle.response_started
        return self._answered_all()

    def _refuse_too_large(self) -> None:
        fields = "header and trailer fields" if self._phase == "body" else "header fields"
        limit = self.max_header_bytes
        self._close(
            "refused a request",
            f"its {fields} exceed STOCKROOM_MAX_HEADER_BYTES ({limit} bytes)",
            answer=(431, f"request {fields} are larger than {limit} bytes"),
        )

    def _head_too_slow(self) -> None:
        if self._closing or self.transport.is_closing():
            return
        if self.flow.read_paused:
            # uvicorn stopped reading (a pipelined request waits for the one before it): the
            # rest of the head may be sitting unread in the socket, so the client is not late.
            self.head_deadline.start()
            return
        seconds = f"{self.head_deadline.seconds:g}"
        if self._phase == "idle":
            # Nothing of a request came (an idle preconnect, say): a 408 now could be read as
            # the answer to a request the client is just sending, so only the close.
            reason = f"no request within {seconds} s (STOCKROOM_REQUEST_HEAD_SECONDS)"
            self._close("closed an idle connection", reason, answer=None, level=logging.INFO)
            return
        self._close(
            "closed a slow request",
            f"its head did not arrive within {seconds} s (STOCKROOM_REQUEST_HEAD_SECONDS)",
            answer=(408, f"the request head did not arrive within {seconds} seconds"),
        )

    def _close(
        self,
        what: str,
        reason: str,
        *,
        answer: tuple[int, str] | None,
        level: int = logging.WARNING,
    ) -> None:
        """Cut the connection off, after ``answer`` (status, detail) if a response written
        now would be the answer to the request cut off; one log line says why."""
        self._closing = True
        self.head_deadline.stop()
        outcome = "closed the connection"
        if answer is not None and self._may_answer():
            self.transport.write(self._json_response(*answer))
            outcome = f"answered {answer[0]} and closed the connection"
        if self._phase == "body":
            # This request's app may still be waiting for its body: it gets a disconnect,
            # and nothing it sends goes out after our answer.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        log.log(level, "%s from %s: %s; %s", what, self._client(), reason, outcome)
        self.transport.close()

    def _client(self) -> str:
        return f"{self.client[0]}:{self.client[1]}" if self.client else "a client"

    def _json_response(self, status: int, detail: str) -> bytes:
        body = json.dumps({"detail": detail}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        return b"".join(head) + body
