"""One SQLite writer at a time per process, queued in asyncio instead of in SQLite.

Every unit of work on SQLite starts with ``BEGIN IMMEDIATE`` (see ``database``), so only one
can be open in the whole database at a time anyway. Left to SQLite, the others wait in its
busy handler, which polls the lock with sleeps of up to 100 ms: a waiter that wakes just after
the lock was taken again sleeps once more, so who gets in next is luck, and under 32 writers
the slowest waited for seconds (bench/README.md: p99 1.7 s, and busy timeouts). Queued on an
``asyncio.Lock`` first, the writers of one process go in arrival order and only one of them at
a time waits at SQLite's level, against the other processes' one.
"""

from __future__ import annotations

import asyncio
import weakref

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine


class WriterGate:
    """The per-process queue for one SQLite database's write lock."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout  # as long as SQLite's own busy timeout would wait
        # One lock per event loop: an asyncio.Lock belongs to the loop that first waits on it,
        # and a process may run more than one loop over the same engine (a CLI, a test).
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def enter(self) -> bool:
        """Wait for this process's turn; ``False`` if it did not come within the timeout."""
        try:
            await asyncio.wait_for(self._lock().acquire(), self.timeout)
        except TimeoutError:
            return False
        return True

    def leave(self) -> None:
        self._lock().release()


_gates: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()


def install(engine: AsyncEngine, timeout: float) -> None:
    _gates[engine.sync_engine] = WriterGate(timeout)


def gate_for(engine: AsyncEngine) -> WriterGate | None:
    """The engine's writer gate: SQLite engines built by ``build_engine`` have one."""
    return _gates.get(engine.sync_engine)
