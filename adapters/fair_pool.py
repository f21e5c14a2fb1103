"""A connection queue that serves waiters in the order they came.

SQLAlchemy's async pool keeps its idle connections in an ``asyncio.Queue``. A connection
given back while callers wait wakes the first of them, but stays in the queue until that
caller runs; a request arriving in between finds it there and takes it. The one woken finds
the queue empty and waits again, from the back of the line. Under load, with more requests
in flight than connections (the usual case: a pool of 10 per worker, 32 connections from the
balancer), a few requests lose their turn again and again: the median stays where it was and
the 99th percentile grows. Measured (bench/README.md, "Tails"): GET /items/{id} at 64
connections had a p99 five to six times its p50 with the stock queue, and about twice with
a large enough pool, where nobody waits.

Here a connection given back while somebody waits is handed to the longest waiting caller
directly; it never sits in the queue where a newcomer could take it. Everything else (how
many, the timeout, LIFO or FIFO among idle connections) is the pool's as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool, ConnectionPoolEntry
from sqlalchemy.util import await_only
from sqlalchemy.util.queue import Empty, Full, QueueCommon

_T = TypeVar("_T")


class FairAsyncQueue(QueueCommon[_T]):
    """``sqlalchemy.util.queue.AsyncAdaptedQueue``'s interface, first come first served.

    Its methods are called from the pool's synchronous code, inside SQLAlchemy's greenlet,
    so waiting is ``await_only`` on a future, as in the queue it replaces. The pool calls
    ``get`` at checkout and ``put`` at checkin, nothing else: each does its work itself.
    """

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._idle: deque[_T] = deque()
        self._waiters: deque[asyncio.Future[_T]] = deque()
        # When a caller last got a connection: with callers waiting, how long the pool has
        # served nobody (readiness: a pool wedged by this process, entrypoints/api/readiness.py).
        self.served_at = time.monotonic()

    @property
    def waiting(self) -> int:
        """Callers waiting for a connection right now (the pool metrics sample it)."""
        return len(self._waiters)

    def empty(self) -> bool:
        return not self._idle

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._idle)

    def qsize(self) -> int:
        return len(self._idle)

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        # The pool only ever gives back without blocking: a full queue means "close it".
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a waiter that timed out or was cancelled is skipped
                waiter.set_result(item)
                self.served_at = time.monotonic()
                return
        if 0 < self.maxsize <= len(self._idle):
            raise Full
        self._idle.append(item)

    def put_nowait(self, item: _T) -> None:
        self.put(item)

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        # Idle connections exist only while nobody waits (``put`` hands them over), so taking
        # one here jumps no queue.
        if self._idle:
            self.served_at = time.monotonic()
            return self._idle.pop() if self.use_lifo else self._idle.popleft()
        if not block:
            raise Empty
        return await_only(self._wait(timeout))

    def get_nowait(self) -> _T:
        return self.get(block=False)

    async def _wait(self, seconds: float | None) -> _T:
        waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except BaseException as error:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection in the same instant as the timeout or a cancellation
                # ended the wait: pass it on, or the pool would lose it for good.
                self.put(waiter.result())
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):  # put may have dropped it
                    self._waiters.remove(waiter)
            if isinstance(error, TimeoutError):
                raise Empty from None
            raise


class FairAsyncPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's async queue pool, with waiters served in arrival order."""

    _queue_class: type[QueueCommon[ConnectionPoolEntry]] = FairAsyncQueue[ConnectionPoolEntry]

    def waiting(self) -> int:
        """Callers waiting for a connection of this pool right now."""
        queue = self._pool
        return queue.waiting if isinstance(queue, FairAsyncQueue) else 0

    def stuck_for(self) -> float:
        """Seconds callers have been waiting while nobody got a connection (0 when nobody
        waits): every connection held, none given back."""
        queue = self._pool
        if not isinstance(queue, FairAsyncQueue) or not queue.waiting:
            return 0.0
        return time.monotonic() - queue.served_at
