"""The pool's queue serves waiting callers in arrival order (adapters/fair_pool.py).

The regression: with SQLAlchemy's own async queue, a connection given back to a woken waiter
could be taken by a caller that arrived after it; the waiter queued again at the back. Under
load that made the 99th percentile five to six times the median (bench/README.md, "Tails").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import AsyncAdaptedQueue, Empty, QueueCommon

from adapters.fair_pool import FairAsyncQueue
from tests.polling import eventually

Queue = Callable[..., QueueCommon[str]]


async def _take(queue: QueueCommon[str], wait_seconds: float = 5.0) -> str:
    """As the pool takes a connection: blocking, from inside SQLAlchemy's greenlet."""
    return await greenlet_spawn(queue.get, True, wait_seconds)


async def _newcomer_after_a_give_back(queue: QueueCommon[str]) -> list[str]:
    """A and B wait for the one connection; it comes back, and C arrives before A has run.
    A is served, and gives it back at once, while B has been woken for it but not yet run:
    the order of service says whether C took B's turn."""
    served: list[str] = []

    async def caller(name: str) -> None:
        await _take(queue)
        served.append(name)
        queue.put_nowait("connection")  # done with it at once

    # Each ``sleep(0)`` is one turn of the loop, not a wait for time: in it the new caller
    # reaches its wait. The interleaving is the scenario, and it shows in the order of service
    # (the stock queue's test below gets a different one only because A and B did wait).
    first = asyncio.create_task(caller("A"))
    await asyncio.sleep(0)
    second = asyncio.create_task(caller("B"))
    await asyncio.sleep(0)
    queue.put_nowait("connection")  # wakes A
    newcomer = asyncio.create_task(caller("C"))  # runs before A does
    await asyncio.gather(first, second, newcomer)
    return served


async def test_a_connection_given_back_goes_to_the_caller_that_waited_longest() -> None:
    assert await _newcomer_after_a_give_back(FairAsyncQueue(maxsize=1)) == ["A", "B", "C"]


async def test_the_stock_queue_lets_a_newcomer_take_it_which_is_why_we_replace_it() -> None:
    # If SQLAlchemy's queue ever becomes fair, this fails, and fair_pool can go.
    assert await _newcomer_after_a_give_back(AsyncAdaptedQueue(maxsize=1)) == ["A", "C", "B"]


async def test_a_waiter_that_times_out_gets_empty_and_leaves_the_line() -> None:
    queue: FairAsyncQueue[str] = FairAsyncQueue(maxsize=1)
    with pytest.raises(Empty):
        await _take(queue, wait_seconds=0.01)
    queue.put_nowait("connection")  # nobody waits any more: it is kept idle
    assert queue.qsize() == 1
    assert await _take(queue) == "connection"


async def test_a_connection_handed_over_as_the_wait_is_cancelled_is_passed_on_not_lost() -> None:
    queue: FairAsyncQueue[str] = FairAsyncQueue(maxsize=1)
    doomed = asyncio.create_task(_take(queue))
    await eventually(lambda: queue.waiting == 1)
    queue.put_nowait("connection")  # handed to the waiter...
    doomed.cancel()  # ...which is cancelled before it could run
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert queue.qsize() == 1  # back in the queue for the next caller
    assert await _take(queue) == "connection"


async def test_idle_connections_are_taken_without_waiting_lifo_or_fifo() -> None:
    fifo: FairAsyncQueue[str] = FairAsyncQueue(maxsize=2)
    lifo: FairAsyncQueue[str] = FairAsyncQueue(maxsize=2, use_lifo=True)
    for queue in (fifo, lifo):
        queue.put_nowait("older")
        queue.put_nowait("newer")
        assert queue.full()
    assert (fifo.get(block=False), lifo.get(block=False)) == ("older", "newer")
    with pytest.raises(Empty):
        FairAsyncQueue[str](maxsize=1).get(block=False)
