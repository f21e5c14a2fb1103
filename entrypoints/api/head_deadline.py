"""The deadline for a request's head (request line and header fields) on one connection.

uvicorn times only an idle keep-alive connection (``timeout_keep_alive``, and only after a
response); a client trickling a header line every few seconds, or a connection that never
sends a byte, was held open for good (slowloris, issue 26 F14). The protocol in
entrypoints/api/header_guard.py starts this when a head's time starts (the connection's start,
or the first byte of the next request), stops it when the head is complete or the connection
ends, and answers the expiry (408 and a close).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class HeadDeadline:
    """One timer handle at most, cancelled on stop: a closed connection leaves none behind."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, seconds: float, on_expiry: Callable[[], None]
    ) -> None:
        self.seconds = seconds
        self._loop = loop
        self._on_expiry = on_expiry
        self._timer: asyncio.TimerHandle | None = None

    @property
    def running(self) -> bool:
        return self._timer is not None

    def start(self) -> None:
        """Start the clock unless it runs already (a head's time is not reset by its bytes)."""
        if self._timer is None:
            self._timer = self._loop.call_later(self.seconds, self._expire)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        self._on_expiry()
