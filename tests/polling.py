"""Waiting for something a test cannot be told about directly: poll it, with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

DEADLINE_SECONDS = 10.0


async def eventually(condition: Callable[[], bool], seconds: float = DEADLINE_SECONDS) -> None:
    """Return as soon as ``condition()`` holds, yielding to the event loop meanwhile; fail
    after ``seconds``. For states with no event to wait on (a pool's count, a thread's lock)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if condition():
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"still not true after {seconds} s")
