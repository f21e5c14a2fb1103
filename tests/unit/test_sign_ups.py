"""Registration is throttled per address (issue 26, F6): ``per_window`` sign-ups per
``window`` from one address (an IPv6 /64), then 429 with Retry-After, before any hashing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI

from adapters.passwords import Argon2PasswordHasher
from domain.errors import InvalidValue
from domain.login_throttle import LoginThrottlePolicy, TooManySignUps
from domain.sign_ups import SignUpLimit
from entrypoints.container import Container
from entrypoints.login_policy import login_throttle_policy
from entrypoints.settings import Settings
from service_layer.services import sign_ups
from service_layer.services.logins import LoginThrottle
from tests.api_support import api_client, build_test_container, new_password
from tests.conftest import FAST_ARGON2
from tests.fakes import FakeUnitOfWork, InMemoryStore

ADDRESS = "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class CountingHasher(Argon2PasswordHasher):
    def __init__(self) -> None:
        super().__init__(**FAST_ARGON2)
        self.hashes = 0

    async def hash(self, password: str) -> str:
        self.hashes += 1
        return await super().hash(password)


class Site:
    def __init__(self, limit: SignUpLimit) -> None:
        self.store = InMemoryStore()
        self.clock = Clock()
        self.hasher = CountingHasher()
        self.throttle = LoginThrottle(LoginThrottlePolicy(sign_ups=limit), self.clock)
        self.made = 0

    async def sign_up(
        self,
        address: str | None = ADDRESS,
        password: str = "pw long enough",  # noqa: S107
    ) -> None:
        self.made += 1
        await sign_ups.sign_up(
            FakeUnitOfWork(self.store),
            self.hasher,
            self.throttle,
            f"user-{self.made}@example.com",
            password,
            address,
        )

    async def refused(self, address: str | None = ADDRESS) -> int:
        hashes = self.hasher.hashes
        with pytest.raises(TooManySignUps) as refusal:
            await self.sign_up(address)
        assert self.hasher.hashes == hashes, "a refused sign-up hashed a password"
        return refusal.value.retry_after


async def test_an_address_gets_its_allowance_then_waits_for_the_window_to_end() -> None:
    site = Site(SignUpLimit(per_window=3, window=timedelta(hours=1)))
    for _ in range(3):
        await site.sign_up()
    assert await site.refused() == 3600
    site.clock.now += timedelta(minutes=59)
    assert await site.refused() == 60  # refusals are not counted: the window does not move
    site.clock.now += timedelta(minutes=1)
    await site.sign_up()  # a new window
    assert len(site.store.users) == 4


async def test_each_address_has_its_own_allowance_and_an_ipv6_client_is_its_slash_64() -> None:
    site = Site(SignUpLimit(per_window=1))
    await site.sign_up("2001:db8:7:1::1")
    await site.refused("2001:db8:7:1:ffff::2")  # another address of the same /64
    await site.sign_up("2001:db8:7:2::1")
    await site.sign_up(ADDRESS)


async def test_a_refused_password_costs_no_place() -> None:
    site = Site(SignUpLimit(per_window=1))
    with pytest.raises(InvalidValue):
        await site.sign_up(password="12345678")
    await site.sign_up()
    assert site.hasher.hashes == 1


def test_the_settings_set_the_allowance_and_the_known_client_memory() -> None:
    settings = Settings(signups_per_address=3, signup_window_seconds=600, login_known_client_days=7)
    policy = login_throttle_policy(settings)
    assert policy.sign_ups == SignUpLimit(per_window=3, window=timedelta(minutes=10))
    assert policy.remember_clients_for == timedelta(days=7)
    defaults = login_throttle_policy(Settings())
    assert defaults.sign_ups == SignUpLimit(per_window=20, window=timedelta(hours=1))
    assert defaults.remember_clients_for == timedelta(days=30)


@pytest.fixture(scope="module")
def module_container() -> Container:
    return build_test_container(signups_per_address=2)


async def test_past_its_allowance_an_address_gets_429_with_retry_after_and_a_json_body(
    app: FastAPI, container: Container
) -> None:
    async with api_client(app, address=ADDRESS) as client:
        for n in range(2):
            body = {"email": f"u{n}@example.com", "password": new_password()}
            assert (await client.post("/users/", json=body)).status_code == 201
        body = {"email": "u2@example.com", "password": new_password()}
        refused = await client.post("/users/", json=body)
    assert refused.status_code == 429, refused.text
    assert 3590 <= int(refused.headers["retry-after"]) <= 3600
    assert refused.json()["detail"].startswith("too many sign-ups from this address; try again")
    assert refused.headers["cache-control"] == "no-store"

    async with api_client(app) as elsewhere:
        assert (await elsewhere.post("/users/", json=body)).status_code == 201
