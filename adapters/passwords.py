"""Argon2id password hashing (argon2-cffi), off the event loop, a bounded number at a time."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Callable
from typing import TypeVar

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from adapters.hashing_slots import HashingSlots

T = TypeVar("T")

# A login that finds every slot busy waits this long for one at most, then gets a 503; and
# at most this many per slot wait at once (beyond: 503 at once), so the queue stays short.
VERIFY_MAX_WAIT_SECONDS = 2.0
WAITING_PER_SLOT = 8


def default_max_in_flight() -> int:
    """One hash per CPU this process may use. Hashing is pure CPU: on 2 cores, 2 at once
    verified 7.4 a second against 5.8 for one at a time, and 4 at once no more (7.1) but each
    took twice as long (560 ms against 270 ms), with 64 MiB of memory apiece."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Argon2PasswordHasher:
    """argon2-cffi: the reference Argon2 binding, with its RFC 9106 low-memory defaults.

    Hashing takes tens of milliseconds of CPU by design; it runs in a worker thread (the C code
    releases the GIL) so one login never stalls every other request on the event loop. Tests
    pass cheaper parameters to stay fast; the algorithm and code path are the same.

    At most ``max_in_flight`` hashes run at once in this process, and new passwords
    (``hash``) never take the last slot; a ``verify`` waits a little, in a short queue, for
    a slot (``adapters.hashing_slots``), a ``hash`` is refused at once with ``Overloaded``:
    under a flood of sign-ups, logins still get through. The slot is given back by the
    thread when the hash is done, not when the caller stops waiting, so a cancelled request
    cannot let more hashes run than the limit.
    """

    def __init__(
        self,
        *,
        time_cost: int | None = None,
        memory_cost: int | None = None,
        parallelism: int | None = None,
        max_in_flight: int | None = None,
        verify_max_wait: float = VERIFY_MAX_WAIT_SECONDS,
    ) -> None:
        total = max_in_flight or default_max_in_flight()
        self._slots = HashingSlots(
            total, max_wait=verify_max_wait, max_waiting=WAITING_PER_SLOT * total
        )
        defaults = _Argon2()
        self._argon2 = _Argon2(
            time_cost=time_cost or defaults.time_cost,
            memory_cost=memory_cost or defaults.memory_cost,
            parallelism=parallelism or defaults.parallelism,
        )
        self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(16))

    @property
    def waiting(self) -> int:
        """Verifications waiting for a hashing slot now."""
        return self._slots.waiting

    async def hash(self, password: str) -> str:
        self._slots.take_for_new()
        return await self._in_a_slot(_Slot(self._slots, new=True), self._hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        await self._slots.take_for_verify()
        slot = _Slot(self._slots, new=False)
        return await self._in_a_slot(slot, self._verify, password_hash, password)

    @staticmethod
    async def _in_a_slot(slot: _Slot, work: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.to_thread(slot.run, work, *args)
        except BaseException:
            slot.give_back_unused()  # cancelled while queued for a thread: it never ran
            raise

    def _hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            matched = self._argon2.verify(password_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return matched and password_hash is not None

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True


class _Slot:
    """One taken hashing slot, given back exactly once: by the thread when its hash is done,
    or by the caller if the thread never started it (a cancellation while it was queued)."""

    def __init__(self, slots: HashingSlots, *, new: bool) -> None:
        self._slots = slots
        self._new = new
        self._lock = threading.Lock()
        self._claimed = False

    def _claim(self) -> bool:
        with self._lock:
            claimed, self._claimed = self._claimed, True
            return not claimed

    def run(self, work: Callable[..., T], *args: object) -> T:
        if not self._claim():
            raise asyncio.CancelledError  # the caller left and gave the slot back already
        try:
            return work(*args)
        finally:
            self._slots.release(new=self._new)

    def give_back_unused(self) -> None:
        if self._claim():
            self._slots.release(new=self._new)
