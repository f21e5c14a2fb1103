"""SQLite's writer turns (adapters/sqlite_writer_queue.py) under cancellation: a unit whose
caller is cancelled just as its turn comes must be cancelled, not handed the turn.

Found by the stopped-import test: on Python 3.11, ``asyncio.wait_for`` returns the result and
drops the cancellation when the awaited work completes in the same instant, so a Ctrl-C that
arrived as an import's batch got its turn was lost, and the import ran to its end.
"""

from __future__ import annotations

import asyncio

import pytest

from adapters.sqlite_writer_queue import WriterQueue


async def test_a_waiter_cancelled_as_its_turn_comes_is_cancelled_and_holds_nothing() -> None:
    queue = WriterQueue(timeout=5.0, lock_file=None)
    assert await queue.enter()
    waiter = asyncio.create_task(queue.enter())
    await asyncio.sleep(0)  # one turn of the loop: it now waits for the turn

    queue.leave()  # the turn is handed to it ...
    waiter.cancel()  # ... as it is cancelled (a client gone, a Ctrl-C) in the same instant

    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await asyncio.wait_for(queue.enter(), 1)  # the turn was passed on, not kept
    queue.leave()


async def test_a_waiter_that_times_out_gives_up_and_the_next_one_gets_the_turn() -> None:
    queue = WriterQueue(timeout=0.01, lock_file=None)
    assert await queue.enter()
    assert await queue.enter() is False  # the first holds it past the timeout
    queue.leave()
    assert await queue.enter()
    queue.leave()
