"""At most N Argon2 hashes at once per process; one more is a 503 with Retry-After at once.

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

    def __init__(self, max_in_flight: int) -> None:
        super().__init__(**FAST_ARGON2, max_in_flight=max_in_flight)
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


async def test_one_hash_beyond_the_limit_is_refused_at_once_and_the_slot_comes_back() -> None:
    hasher = GatedHasher(max_in_flight=2)
    held = [asyncio.create_task(hasher.hash("first one")) for _ in range(2)]
    await hasher.started(2)

    with pytest.raises(Overloaded):
        await hasher.verify(None, "one too many")  # no waiting: the gate is still shut
    hasher.gate.set()
    await asyncio.gather(*held)
    assert await hasher.verify(await hasher.hash("later"), "later")


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
    return GatedHasher(max_in_flight=1)


@pytest.fixture
def container(container: Container, hasher: GatedHasher) -> Iterator[Container]:
    """The suite's container, hashing behind the test's gate."""
    with container.password_hasher.override(providers.Object(hasher)):
        yield container


async def test_login_and_registration_get_503_with_retry_after_while_the_hashes_are_busy(
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
