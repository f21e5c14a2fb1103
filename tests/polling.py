"""Waiting for something a test cannot be told about directly: poll it, with a deadline."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

DEADLINE_SECONDS = 10.0


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], seconds: float = DEADLINE_SECONDS
) -> None:
    """Return as soon as ``condition()`` holds, yielding to the event loop meanwhile; fail
    after ``seconds``. For states with no event to wait on (a pool's count, a thread's lock).
    ``condition`` may be a coroutine function: an attempt that says whether it got through."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        await asyncio.sleep(0.001)
    name = getattr(condition, "__name__", "<lambda>")
    what = "the condition" if name == "<lambda>" else name.replace("_", " ")
    raise AssertionError(f"{what}: still not true after {seconds} s")
