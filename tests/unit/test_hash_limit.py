"""At most N Argon2 hashes at once per process, and the last slot is the logins': new
passwords (sign-ups, changes) never take it and are refused at once when their share is busy,
while a login waits its turn, briefly, for the next free slot, then gets a 503 with Retry-After.

A gate holds every hash for as long as a test wants: that is what a CPU busy with N slow
hashes looks like, without depending on how fast this machine is.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from dependency_injector import providers

from adapters.hashing_slots import HashingSlots
from adapters.passwords import Argon2PasswordHasher
from entrypoints.container import Container
from service_layer.errors import Overloaded
from tests.api_support import new_password
from tests.conftest import FAST_ARGON2
from tests.fakes import InMemoryStore
from tests.polling import eventually

WAIT = 10.0  # seconds: generous; a test that gets here has failed anyway


class GatedHasher(Argon2PasswordHasher):
    """Each hash waits for ``gate`` in its worker thread, holding its slot meanwhile."""

    def __init__(self, max_in_flight: int, verify_max_wait: float = WAIT) -> None:
        super().__init__(
            **FAST_ARGON2, max_in_flight=max_in_flight, verify_max_wait=verify_max_wait
        )
        self.gate = threading.Event()
        self.running = threading.Semaphore(0)  # released once per hash that has started

    def _hash(self, password: str) -> str:
        self.running.release()
        self.gate.wait(WAIT)
        return super()._hash(password)

    def _verify(self, password_hash: str | None, password: str) -> bool:
        self.running.release()
        self.gate.wait(WAIT)
        return super()._verify(password_hash, password)

    async def started(self, count: int = 1) -> None:
        for _ in range(count):
            assert await asyncio.to_thread(self.running.acquire, timeout=WAIT)


async def test_new_passwords_never_take_the_last_slot_and_are_refused_at_once() -> None:
    hasher = GatedHasher(max_in_flight=3)
    held = [asyncio.create_task(hasher.hash("a new password")) for _ in range(2)]
    await hasher.started(2)

    with pytest.raises(Overloaded):
        await hasher.hash("one too many")  # at once: the gate is still shut
    login = asyncio.create_task(hasher.verify(None, "a login"))
    await hasher.started()  # the last slot was free for it
    hasher.gate.set()
    await asyncio.gather(*held, login)
    assert await hasher.verify(await hasher.hash("later"), "later")


async def test_a_login_waits_for_the_next_free_slot_and_new_hashes_do_not_jump_the_queue() -> None:
    hasher = GatedHasher(max_in_flight=1)  # one slot: new passwords may take it too
    sign_up = asyncio.create_task(hasher.hash("a new password"))
    await hasher.started()
    login = asyncio.create_task(hasher.verify(None, "a login"))
    await eventually(lambda: hasher.waiting == 1)

    with pytest.raises(Overloaded):
        await hasher.hash("another sign-up")  # a login is waiting: it goes first
    hasher.gate.set()
    await sign_up
    assert await login is False  # it ran, with the slot the sign-up gave back


async def test_a_login_waits_at_most_its_deadline_and_gives_up_its_place() -> None:
    hasher = GatedHasher(max_in_flight=1, verify_max_wait=0.05)
    held = asyncio.create_task(hasher.verify(None, "a slow login"))
    await hasher.started()
    with pytest.raises(Overloaded):
        await hasher.verify(None, "no slot came free in time")
    assert hasher.waiting == 0
    hasher.gate.set()
    await held
    assert await hasher.verify(await hasher.hash("later"), "later")


async def test_a_slot_given_to_a_waiter_that_left_passes_to_the_next_one() -> None:
    slots = HashingSlots(1, max_wait=WAIT, max_waiting=2)
    slots.take_for_new()
    leaving = asyncio.create_task(slots.take_for_verify())
    staying = asyncio.create_task(slots.take_for_verify())
    await eventually(lambda: slots.waiting == 2)
    leaving.cancel()  # its request is gone; before it learns so, the slot is handed to it
    slots.release(new=True)
    with pytest.raises(asyncio.CancelledError):
        await leaving
    await asyncio.wait_for(staying, WAIT)  # the slot was passed on, not lost
    with pytest.raises(Overloaded):
        slots.take_for_new()
    slots.release(new=False)
    slots.take_for_new()


async def test_the_queue_of_waiting_logins_is_bounded() -> None:
    slots = HashingSlots(1, max_wait=WAIT, max_waiting=1)
    slots.take_for_new()
    waiting = asyncio.create_task(slots.take_for_verify())
    await eventually(lambda: slots.waiting == 1)
    with pytest.raises(Overloaded):
        await slots.take_for_verify()  # at once: the queue is full
    slots.release(new=True)
    await waiting


async def test_a_caller_that_gives_up_does_not_free_a_slot_its_hash_still_uses() -> None:
    hasher = GatedHasher(max_in_flight=1)
    abandoned = asyncio.create_task(hasher.hash("abandoned"))
    await hasher.started()
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned

    with pytest.raises(Overloaded):  # the thread is still hashing
        await hasher.hash("next")
    hasher.gate.set()

    async def next_hash_gets_a_slot() -> bool:
        try:
            await hasher.hash("next")
        except Overloaded:
            return False
        return True

    await eventually(next_hash_gets_a_slot)  # the thread gives it back when its hash is done


@pytest.fixture
def hasher() -> GatedHasher:
    return GatedHasher(max_in_flight=1, verify_max_wait=0.05)


@pytest.fixture
def container(container: Container, hasher: GatedHasher) -> Iterator[Container]:
    """The suite's container, hashing behind the test's gate."""
    with container.password_hasher.override(providers.Object(hasher)):
        yield container


async def test_login_and_registration_get_503_with_retry_after_while_the_hashes_stay_busy(
    client: httpx.AsyncClient, hasher: GatedHasher, store: InMemoryStore
) -> None:
    password = new_password()
    hasher.gate.set()
    registered = await client.post("/users/", json={"email": "a@example.com", "password": password})
    assert registered.status_code == 201
    hasher.gate.clear()

    slow_login = asyncio.create_task(
        client.post("/token", data={"username": "a@example.com", "password": password})
    )
    await hasher.started(2)  # registration's hash, then this login's
    # This one waits 50 ms for the slot, in vain.
    login = await client.post("/token", data={"username": "a@example.com", "password": password})
    registration = await client.post(
        "/users/", json={"email": "b@example.com", "password": new_password()}
    )
    for refused in (login, registration):
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json() == {"detail": "the service is temporarily unavailable; retry shortly"}

    hasher.gate.set()
    assert (await slow_login).status_code == 200
    assert store.login_failures == {}, "a login refused for lack of a slot counted as a failure"
