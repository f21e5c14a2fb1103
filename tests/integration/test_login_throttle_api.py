"""Finding 4, login brute force, over HTTP on SQLite and PostgreSQL: wrong passwords from one
address earn a 429 with Retry-After, while the owner still logs in from another address.

The client address is what uvicorn puts in the ASGI scope (``request.client``); each client
here calls the app in-process from an address of its own, the way the ASGI transport lets a
test set it. Across real server processes, see ``test_login_throttle_hosts.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from adapters.database import Database
from tests.api_support import api_client, new_password
from tests.integration.failure_support import outside_connection

ATTACKER = "203.0.113.66"
OWNER_AT = "198.51.100.7"


@pytest.fixture
async def attacker(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, address=ATTACKER) as client:
        yield client


@pytest.fixture
async def owner(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, address=OWNER_AT) as client:
        yield client


async def _failures(database: Database, email: str, address: str) -> int | None:
    async with outside_connection(database) as connection:
        found = await connection.execute(
            text("SELECT failures FROM login_failures WHERE scope = :scope AND key = :key"),
            {"scope": "account_address", "key": f"{email} {address}"},
        )
        return found.scalar_one_or_none()


async def test_wrong_passwords_earn_a_429_and_the_owner_still_logs_in_elsewhere(
    owner: httpx.AsyncClient, attacker: httpx.AsyncClient, database: Database
) -> None:
    email, password = f"victim-{new_password()[3:]}@example.com", new_password()
    assert (await owner.post("/users/", json={"email": email, "password": password})).is_success

    answers = []
    for n in range(10):
        guess = {"username": email, "password": f"guess number {n}"}
        answers.append(await attacker.post("/token", data=guess))
    statuses = [answer.status_code for answer in answers]
    assert statuses == [400] * 6 + [429] * 4, statuses  # five free, the sixth blocks
    refused = answers[-1]
    assert refused.json() == {"detail": "too many failed logins; try again in 1 s"}
    assert int(refused.headers["retry-after"]) == 1
    # The right password from the attacker's address is refused too: it is not even checked.
    right = {"username": email, "password": password}
    assert (await attacker.post("/token", data=right)).status_code == 429
    assert await _failures(database, email, ATTACKER) == 6  # refusals are not counted

    logged_in = await owner.post("/token", data=right)
    assert logged_in.status_code == 200, logged_in.text
    assert (await attacker.post("/token", data=right)).status_code == 429


async def test_a_success_clears_the_failures_of_its_address_on_the_account(
    owner: httpx.AsyncClient, database: Database
) -> None:
    email, password = f"typo-{new_password()[3:]}@example.com", new_password()
    await owner.post("/users/", json={"email": email, "password": password})
    for _ in range(3):
        wrong = await owner.post("/token", data={"username": email, "password": "typo typo"})
        assert wrong.status_code == 400
    assert await _failures(database, email, OWNER_AT) == 3

    right = await owner.post("/token", data={"username": email, "password": password})
    assert right.status_code == 200
    assert await _failures(database, email, OWNER_AT) is None


async def test_guessing_the_current_password_of_a_password_change_is_throttled_too(
    attacker: httpx.AsyncClient, owner: httpx.AsyncClient, database: Database
) -> None:
    """A stolen token must not buy unlimited guesses at the password behind it: the current
    password of ``POST /users/me/password`` is counted and blocked as a login's is."""
    email, password = f"stolen-{new_password()[3:]}@example.com", new_password()
    await owner.post("/users/", json={"email": email, "password": password})
    token = (await owner.post("/token", data={"username": email, "password": password})).json()
    stolen = {"Authorization": f"Bearer {token['access_token']}"}

    statuses = []
    for n in range(8):
        guess = {"current_password": f"guess number {n}", "new_password": new_password()}
        answer = await attacker.post("/users/me/password", json=guess, headers=stolen)
        statuses.append(answer.status_code)
    assert statuses == [403] * 6 + [429] * 2, statuses
    assert await _failures(database, email, ATTACKER) == 6
    # The owner, elsewhere, still logs in and changes the password with the right one.
    right = {"current_password": password, "new_password": new_password()}
    changed = await owner.post("/users/me/password", json=right, headers=stolen)
    assert changed.status_code == 200, changed.text


# --- issue 26: an IPv6 client is its /64 (F5); an address's block spares its known clients (F4)


async def test_guesses_spread_over_one_ipv6_slash_64_are_counted_as_one_address(
    app: FastAPI, owner: httpx.AsyncClient, database: Database
) -> None:
    email, password = f"six-{new_password()[3:]}@example.com", new_password()
    await owner.post("/users/", json={"email": email, "password": password})
    statuses = []
    for n in range(1, 9):  # a fresh address of the same /64 for every guess
        async with api_client(app, address=f"2001:db8:66:1::{n:x}") as guesser:
            guess = {"username": email, "password": f"guess number {n}"}
            statuses.append((await guesser.post("/token", data=guess)).status_code)
    assert statuses == [400] * 6 + [429] * 2, statuses
    assert await _failures(database, email, "2001:db8:66:1::/64") == 6


async def test_others_failures_at_a_shared_address_do_not_lock_out_its_known_clients(
    app: FastAPI, database: Database
) -> None:
    """An office behind one address: someone there tries common passwords on many accounts
    until the address is blocked (50 failures); a colleague who logged in from there lately
    still logs in, a newcomer waits."""
    shared = "192.0.2.44"
    async with api_client(app, address=shared) as office:
        email, password = f"colleague-{new_password()[3:]}@example.com", new_password()
        await office.post("/users/", json={"email": email, "password": password})
        right = {"username": email, "password": password}
        assert (await office.post("/token", data=right)).status_code == 200

        for n in range(50):
            guess = {"username": f"victim-{n}@example.com", "password": "Summer2026!"}
            assert (await office.post("/token", data=guess)).status_code == 400
        blocked = await office.post("/token", data={**guess, "password": "again"})
        assert blocked.status_code == 400  # the 51st failure, which blocks the address
        newcomer = {"username": "newcomer@example.com", "password": "never checked"}
        assert (await office.post("/token", data=newcomer)).status_code == 429

        assert (await office.post("/token", data=right)).status_code == 200
