"""How many Argon2 hashes one process runs at once, and who gets the next free slot.

Two kinds of work compete for the CPU: *verifying* a password (a login, the current password
of a change) and hashing a *new* one (a sign-up, a change, a reset). Anyone may sign up, so
new hashes may hold only ``total - 1`` slots (all of them when there is just one): a flood of
sign-ups never takes the last slot, and a login finds it free. A verification that finds no
slot waits its turn, first come first served, for at most ``max_wait`` seconds; while any
waits, no new hash starts, so a waiting login gets the next slot freed, whoever freed it. A new
hash never waits: refused at once (``Overloaded``), it costs the server nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass

from service_layer.errors import Overloaded


@dataclass(eq=False)
class _Waiter:
    loop: asyncio.AbstractEventLoop
    turn: asyncio.Future[None]


def _give_turn(turn: asyncio.Future[None]) -> None:
    if not turn.done():
        turn.set_result(None)


class HashingSlots:
    """``total`` slots; ``release`` may be called from any thread (the hash's own, when its
    work is done), the ``take`` methods from an event loop."""

    def __init__(self, total: int, *, max_wait: float, max_waiting: int) -> None:
        self.total = total
        self.new_share = max(1, total - 1)
        self._max_wait = max_wait
        self._max_waiting = max_waiting
        self._lock = threading.Lock()
        self._busy = 0
        self._busy_new = 0
        self._waiting: deque[_Waiter] = deque()

    @property
    def waiting(self) -> int:
        """Verifications waiting for a slot now."""
        with self._lock:
            return len(self._waiting)

    def take_for_new(self) -> None:
        with self._lock:
            if self._waiting or self._busy >= self.total or self._busy_new >= self.new_share:
                raise Overloaded("every password hashing slot for new passwords is busy")
            self._busy += 1
            self._busy_new += 1

    async def take_for_verify(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._waiting and self._busy < self.total:
                self._busy += 1
                return
            if len(self._waiting) >= self._max_waiting:
                raise Overloaded("every password hashing slot of this process is busy")
            waiter = _Waiter(loop, loop.create_future())
            self._waiting.append(waiter)
        try:
            await asyncio.wait_for(waiter.turn, self._max_wait)
        except BaseException as error:
            with self._lock:
                given = waiter not in self._waiting
                if not given:
                    self._waiting.remove(waiter)
            if given:  # the slot came to us as we gave up: pass it on
                self.release(new=False)
            if isinstance(error, TimeoutError):
                raise Overloaded("no password hashing slot came free in time") from None
            raise

    def release(self, *, new: bool) -> None:
        with self._lock:
            if new:
                self._busy_new -= 1
            if not self._waiting:
                self._busy -= 1
                return
            waiter = self._waiting.popleft()  # the slot stays busy: it is the waiter's now
        try:
            waiter.loop.call_soon_threadsafe(_give_turn, waiter.turn)
        except RuntimeError:  # its event loop is closed: nobody is waiting there any more
            self.release(new=False)
