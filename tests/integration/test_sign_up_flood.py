"""A registration flood against a real `stockroom serve` leaves correct logins answered
(issue 26, F6), on SQLite and PostgreSQL, with the real Argon2 parameters.

Two defences, each tested with the other out of the way:

- hashing capacity: new passwords never take a process's last hashing slot, and a login waits
  its turn briefly instead of a 503 (adapters/hashing_slots.py); before, 4 connections
  registering without pause made every login fail with 503;
- registration is throttled per address, before any hashing: past STOCKROOM_SIGNUPS_PER_ADDRESS
  a 429 with Retry-After and a JSON body.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.databases import throwaway_database
from tests.integration.servers import live_client, stockroom_serve

SECRET_KEY = "sign-up-flood-signing-key-" + "0123456789abcdef" * 3
FLOODERS = 4
LOGINS = 20
TIMEOUT = 60.0  # real Argon2 parameters, on a machine other tests keep busy
# Two slots: sign-ups may hold one of them, so the flood saturates its share at once.
TWO_SLOTS = {"STOCKROOM_MAX_CONCURRENT_HASHES": "2"}
UNTHROTTLED = {"STOCKROOM_SIGNUPS_PER_ADDRESS": "1000000"}


@pytest.fixture
async def postgres_settings(postgres_url: str) -> AsyncIterator[dict[str, str]]:
    async with throwaway_database(postgres_url, "stockroom_flood") as database:
        url = database.url.render_as_string(hide_password=False)
        yield {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY}


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'flood.db'}"
    return {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest) -> dict[str, str]:
    found: dict[str, str] = request.getfixturevalue(f"{request.param}_settings")
    return found


def _new_account() -> dict[str, str]:
    return {
        "email": f"user-{secrets.token_hex(6)}@example.com",
        "password": "pw-" + secrets.token_hex(8),
    }


async def _flood(base: str, stop: asyncio.Event, statuses: Counter[int]) -> None:
    """Registrations one after the other on a connection of its own, until ``stop``."""
    async with live_client(timeout=TIMEOUT, max_connections=1) as client:
        while not stop.is_set():
            answer = await client.post(f"{base}/users/", json=_new_account())
            statuses[answer.status_code] += 1
            if answer.status_code == 429:
                assert int(answer.headers["retry-after"]) >= 1
                assert answer.json()["detail"].startswith("too many sign-ups from this address")


async def _logins_during_a_flood(base: str) -> tuple[list[int], Counter[int]]:
    """``LOGINS`` correct logins, one after the other, while ``FLOODERS`` connections
    register accounts; the logins' statuses and the flood's."""
    async with live_client(timeout=TIMEOUT) as client:
        owner = _new_account()
        registered = await client.post(f"{base}/users/", json=owner)
        assert registered.status_code == 201, registered.text
        credentials = {"username": owner["email"], "password": owner["password"]}

        stop, flood_statuses = asyncio.Event(), Counter[int]()
        flooders = [
            asyncio.create_task(_flood(base, stop, flood_statuses)) for _ in range(FLOODERS)
        ]
        try:
            await asyncio.sleep(0.5)  # the flood is on before the first login
            logins = []
            for _ in range(LOGINS):
                answer = await client.post(f"{base}/token", data=credentials)
                logins.append(answer.status_code)
        finally:
            stop.set()
            await asyncio.gather(*flooders)
    return logins, flood_statuses


async def test_logins_keep_a_hashing_slot_that_a_registration_flood_cannot_take(
    settings: dict[str, str], tmp_path: Path
) -> None:
    with stockroom_serve(settings | TWO_SLOTS | UNTHROTTLED, tmp_path, workers=1) as base:
        logins, flood = await _logins_during_a_flood(base)

    assert logins == [200] * LOGINS, f"logins: {Counter(logins)}, flood: {flood}"
    # The flood did saturate its share: sign-ups beyond it were refused at once.
    assert flood[201] > 0, flood
    assert flood[503] > 0, flood
    assert set(flood) <= {201, 503}, flood


async def test_a_registration_flood_from_one_address_is_refused_past_its_allowance(
    settings: dict[str, str], tmp_path: Path
) -> None:
    allowance = {"STOCKROOM_SIGNUPS_PER_ADDRESS": "5"}
    with stockroom_serve(settings | TWO_SLOTS | allowance, tmp_path, workers=2) as base:
        logins, flood = await _logins_during_a_flood(base)

    assert logins == [200] * LOGINS, f"logins: {Counter(logins)}, flood: {flood}"
    # The owner's account took one place; four more were taken across both workers (an
    # account each, or a 503 when the sign-ups' hashing share was busy: counted before any
    # hashing, a place is spent either way), then 429s only.
    assert flood[201] + flood[503] == 4, flood
    assert flood[201] >= 1, flood
    assert flood[429] > 0, flood
    assert set(flood) <= {201, 429, 503}, flood
