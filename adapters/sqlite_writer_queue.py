"""One SQLite writer at a time, queued where waiting is cheap and fair instead of in SQLite.

Every unit of work on SQLite starts with ``BEGIN IMMEDIATE`` (see ``adapters.sqlite``), so only one
can be open in the whole database at a time anyway. Left to SQLite, the others wait in its
busy handler, which polls the lock with sleeps of up to 100 ms: a waiter that wakes just after
the lock was taken again sleeps once more, so who gets in next is luck, and under 32 writers
the slowest waited for seconds, and some ran into the busy timeout
(docs/session-lifecycle.md has the figures).

So a unit of work first takes its turn here, in two steps:

1. within the process, an ``asyncio.Lock``: the writers of one process go in arrival order,
   and only one of them at a time goes on to step 2;
2. across processes (uvicorn workers, a CLI next to the server), an exclusive ``flock`` on a
   lock file beside the database, waited for in a thread: the kernel wakes the next waiter
   the moment the holder lets go, so the database's write lock passes from one process to
   the next without anyone polling for it.

Once through both, ``BEGIN IMMEDIATE`` finds the database free (unless a program that does not
use this queue holds it, in which case SQLite's busy timeout still applies). Both steps give up
after the busy timeout, and the unit of work reports what SQLite would have: database locked.
A process that dies holding the file lock loses it with its file descriptors. Database paths
given as ``file:`` URIs get no file lock (nor a reader): only plain paths are known files.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX (Windows): writers of one process still queue in step 1
    fcntl = None  # type: ignore[assignment]


class _FileLock:
    """An exclusive ``flock`` on one file, waited for on a thread, never on the event loop.

    The file stays open for as long as the database object exists (closed when the queue is
    garbage collected), not just until ``dispose()``: closing it under a waiting thread could
    let that thread lock, or unlock, whatever file next got the same descriptor number.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        weakref.finalize(self, os.close, self._fd)
        # One thread: only the holder of the process's asyncio lock waits here.
        self._waiter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._guard = threading.Lock()
        self._wanted = False  # whether someone still waits for the lock
        self._held = False  # whether this process holds it for someone

    def _take(self) -> bool:
        """Block this thread until the lock is ours; keep it only if still wanted."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        with self._guard:
            if self._wanted:
                self._held = True
                return True
            fcntl.flock(self._fd, fcntl.LOCK_UN)  # the caller gave up: next process's turn
            return False

    async def acquire(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the lock; ``False`` if it did not come."""
        with self._guard:
            self._wanted = True
        waiting = asyncio.get_running_loop().run_in_executor(self._waiter, self._take)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for drops a cancellation that
            # arrives as the awaited work completes (tests/unit/test_sqlite_writer_turns.py).
            async with asyncio.timeout(within):
                return await asyncio.shield(waiting)
        except BaseException as error:  # timed out, or the caller was cancelled
            with self._guard:
                got_it = self._held
                if not got_it:
                    self._wanted = False  # _take gives it straight back when it comes
            if got_it and not isinstance(error, TimeoutError):
                self.release()  # cancelled just as it came: nobody will use it
            if isinstance(error, TimeoutError):
                return got_it
            raise

    def release(self) -> None:
        with self._guard:
            self._held = False
            self._wanted = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @property
    def waiting(self) -> bool:
        with self._guard:
            return self._wanted and not self._held

    async def drained(self) -> None:
        """Return once no wait is left on the thread (one given up on included)."""
        await asyncio.get_running_loop().run_in_executor(self._waiter, _nothing)


def _nothing() -> None:
    pass


class WriterQueue:
    """The turn-taking for one SQLite database's write lock, as seen from one process.

    Like the ``AsyncEngine`` it sits beside, it serves one event loop at a time: ``reset()``
    (called by ``Database.dispose()``) lets the next loop start afresh, as a disposed
    engine's pool does.
    """

    def __init__(self, timeout: float, lock_file: Path | None) -> None:
        self.timeout = timeout  # as long as SQLite's own busy timeout would wait
        self._file_lock = _FileLock(lock_file) if lock_file is not None else None
        # Made on first use: an asyncio.Lock belongs to the loop it first waits in.
        self._lock: asyncio.Lock | None = None

    async def enter(self) -> bool:
        """Wait for this unit's turn; ``False`` if it did not come within the timeout."""
        deadline = time.monotonic() + self.timeout
        if self._lock is None:
            self._lock = asyncio.Lock()
        lock = self._lock
        try:
            # Not wait_for, which on Python 3.11 could hand the turn to a cancelled caller.
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
        except TimeoutError:
            return False
        if self._file_lock is None:
            return True
        try:
            taken = await self._file_lock.acquire(max(0.0, deadline - time.monotonic()))
        except BaseException:
            lock.release()
            raise
        if not taken:
            lock.release()
        return taken

    def leave(self, _closed: object = None) -> None:
        """The turn passes to the next writer (also a done-callback: ``_closed`` is ignored)."""
        if self._file_lock is not None:
            self._file_lock.release()
        if self._lock is not None:
            self._lock.release()

    @property
    def waiting_for_other_processes(self) -> bool:
        """Whether a unit of this process is waiting for the file lock right now."""
        return self._file_lock is not None and self._file_lock.waiting

    async def drained(self) -> None:
        """Return once a wait for the file lock that was given up on (timed out, cancelled)
        has run its course: it took the lock when it came, and gave it straight back."""
        if self._file_lock is not None:
            await self._file_lock.drained()

    def reset(self) -> None:
        """Forget the in-process queue, for use from another event loop (nobody may be in it)."""
        self._lock = None


def lock_file_for(database_file: Path | None) -> Path | None:
    """Where writers of ``database_file`` take turns across processes; ``None`` where there is
    no known file, or no ``flock`` (not POSIX: writers of one process still queue)."""
    if database_file is None or fcntl is None:
        return None
    return database_file.with_name(database_file.name + "-writer.lock")
