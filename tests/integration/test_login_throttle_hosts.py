"""Login throttling across real server processes: two `stockroom serve` on one database (a
SQLite file, or PostgreSQL) count the same failures, because the counters live in the database.

The servers trust the local proxy (``--forwarded-allow-ips 127.0.0.1``, as the README says to
run behind one), so each request says which client it stands for in ``X-Forwarded-For``. A
server that does not trust us ignores that header: a client cannot escape its own counter by
naming another address.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from entrypoints.cli.servers import Server
from tests.integration.databases import throwaway_database
from tests.integration.servers import live_client, stockroom_serve

SECRET_KEY = "throttle-hosts-signing-key-" + "0123456789abcdef" * 3
TRUST_LOCAL_PROXY = ("--forwarded-allow-ips", "127.0.0.1")
ATTACKER = {"X-Forwarded-For": "203.0.113.66"}
OWNER_AT = {"X-Forwarded-For": "198.51.100.7"}
TIMEOUT = 60.0  # real Argon2 parameters, on a machine other tests keep busy


@pytest.fixture
async def postgres_settings(postgres_url: str) -> AsyncIterator[dict[str, str]]:
    async with throwaway_database(postgres_url, "stockroom_throttle") as database:
        url = database.url.render_as_string(hide_password=False)
        yield {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY}


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    return {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def settings(request: pytest.FixtureRequest) -> dict[str, str]:
    """What both servers are started with: one shared database."""
    found: dict[str, str] = request.getfixturevalue(f"{request.param}_settings")
    return found


async def _register(client: httpx.AsyncClient, base: str) -> dict[str, str]:
    credentials = {
        "username": f"owner-{secrets.token_hex(4)}@example.com",
        "password": "pw-" + secrets.token_hex(8),
    }
    body = {"email": credentials["username"], "password": credentials["password"]}
    registered = await client.post(f"{base}/users/", json=body)
    assert registered.status_code == 201, registered.text
    return credentials


@pytest.fixture(params=list(Server))
def server(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """Under Granian, X-Forwarded-For is applied by uvicorn's middleware around the app
    (entrypoints/cli/servers.py): the same rules, so the same counts."""
    return ("--server", request.param)


async def test_failures_sent_to_one_server_are_counted_by_the_other(
    settings: dict[str, str], server: tuple[str, ...], tmp_path: Path
) -> None:
    args = (*TRUST_LOCAL_PROXY, *server)
    with (
        stockroom_serve(settings, tmp_path, workers=1, args=args) as first,
        stockroom_serve(settings, tmp_path, workers=1, args=args) as second,
    ):
        async with live_client(timeout=TIMEOUT) as client:
            right = await _register(client, first)
            wrong = {**right, "password": "not the password"}
            statuses = []
            for n in range(7):  # alternately: neither server alone sees more than four
                base = (first, second)[n % 2]
                answer = await client.post(f"{base}/token", data=wrong, headers=ATTACKER)
                statuses.append(answer.status_code)
                if answer.status_code == 429:
                    assert int(answer.headers["retry-after"]) >= 1
                    break
            # The sixth failure blocks for 1 s, the seventh for 2 s: a 429 comes by the
            # seventh attempt unless each server counted only its own.
            assert statuses[:6] == [401] * 6 or statuses[:5] == [401] * 5, statuses
            assert statuses[-1] == 429, statuses

            owner = await client.post(f"{second}/token", data=right, headers=OWNER_AT)
            assert owner.status_code == 200, owner.text
            blocked = await client.post(f"{first}/token", data=right, headers=ATTACKER)
            assert blocked.status_code == 429


async def test_a_client_cannot_pick_its_address_when_the_proxy_is_not_trusted(
    server: tuple[str, ...], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'alone.db'}"
    settings = {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY}
    untrusted = ("--forwarded-allow-ips", "192.0.2.1", *server)  # some other proxy, not us
    with stockroom_serve(settings, tmp_path, workers=1, args=untrusted) as base:
        async with live_client(timeout=TIMEOUT) as client:
            right = await _register(client, base)
            wrong = {**right, "password": "not the password"}
            statuses = []
            for n in range(8):  # a fresh forged address each time, all from 127.0.0.1
                forged = {"X-Forwarded-For": f"203.0.113.{n}"}
                answer = await client.post(f"{base}/token", data=wrong, headers=forged)
                statuses.append(answer.status_code)
    assert statuses[:6] == [401] * 6, statuses
    assert 429 in statuses, statuses
