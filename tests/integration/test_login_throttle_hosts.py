"""Login throttling across real server processes: two `stockroom serve` on one database (a
SQLite file, or PostgreSQL) count the same failures, because the counters live in the database.

Whose address it is (issue 26, F3): ``X-Forwarded-For`` is believed only from the proxies named
in STOCKROOM_TRUSTED_PROXIES (none by default), under uvicorn and Granian alike. Trusted, the
throttle counts by the address the proxy names; untrusted, a client that names a fresh address
for every guess is still throttled by its own.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.cli.servers import Server
from tests.integration.cli_support import stockroom
from tests.integration.databases import throwaway_database
from tests.integration.servers import CLIENT_KEEP_ALIVE, live_client, stockroom_serve

SECRET_KEY = "throttle-hosts-signing-key-" + "0123456789abcdef" * 3
TRUST_LOCAL_PROXY = {"STOCKROOM_TRUSTED_PROXIES": "127.0.0.1"}
GUESSES = 60
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
    trusting = settings | TRUST_LOCAL_PROXY
    with (
        stockroom_serve(trusting, tmp_path, workers=1, args=server) as first,
        stockroom_serve(trusting, tmp_path, workers=1, args=server) as second,
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
            assert statuses[:6] == [400] * 6 or statuses[:5] == [400] * 5, statuses
            assert statuses[-1] == 429, statuses

            owner = await client.post(f"{second}/token", data=right, headers=OWNER_AT)
            assert owner.status_code == 200, owner.text
            blocked = await client.post(f"{first}/token", data=right, headers=ATTACKER)
            assert blocked.status_code == 429


async def _forged_guesses(client: httpx.AsyncClient, base: str, wrong: dict[str, str]) -> list[int]:
    """GUESSES wrong logins, each naming a fresh address in X-Forwarded-For; their statuses."""
    statuses = []
    for n in range(GUESSES):
        forged = {"X-Forwarded-For": f"203.0.{n // 250}.{n % 250 + 1}"}
        answer = await client.post(f"{base}/token", data=wrong, headers=forged)
        statuses.append(answer.status_code)
    return statuses


def _throttled(statuses: list[int]) -> bool:
    """Blocked after the free failures, but for a try each time a block ends (1 s, 2 s, ...):
    a few 400s (invalid_grant), then 429s (unthrottled: all 400)."""
    return statuses.count(400) <= 10 and statuses[-1] == 429 and set(statuses) <= {400, 429}


async def test_without_a_trusted_proxy_a_fresh_forged_address_per_guess_is_throttled(
    settings: dict[str, str], server: tuple[str, ...], tmp_path: Path
) -> None:
    with stockroom_serve(settings, tmp_path, workers=1, args=server) as base:
        async with live_client(timeout=TIMEOUT) as client:
            right = await _register(client, base)
            signed_in = await client.post(f"{base}/token", data=right)
            assert signed_in.status_code == 200, signed_in.text
            token = signed_in.json()["access_token"]
            statuses = await _forged_guesses(client, base, {**right, "password": "wrong"})
            # The current password of a password change is a guess like a login's.
            change = {
                "current_password": "wrong again",
                "new_password": "pw-" + secrets.token_hex(8),
            }
            changed = await client.post(
                f"{base}/users/me/password",
                json=change,
                headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.1"},
            )

    assert _throttled(statuses), statuses
    assert changed.status_code == 429, changed.text


async def test_the_option_overrides_the_setting(tmp_path: Path) -> None:
    """``--forwarded-allow-ips`` names other proxies than the setting: only those are trusted."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'alone.db'}"
    settings = {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY}
    other_proxy = ("--forwarded-allow-ips", "192.0.2.1")  # not us
    with stockroom_serve(
        settings | TRUST_LOCAL_PROXY, tmp_path, workers=1, args=other_proxy
    ) as base:
        async with live_client(timeout=TIMEOUT) as client:
            right = await _register(client, base)
            statuses = await _forged_guesses(client, base, {**right, "password": "wrong"})

    assert _throttled(statuses), statuses


def _from(local_address: str, **options: Any) -> httpx.AsyncClient:
    """A client whose connections come from ``local_address`` (any of 127.0.0.0/8 is ours)."""
    limits = httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE)
    transport = httpx.AsyncHTTPTransport(local_address=local_address, limits=limits)
    return httpx.AsyncClient(transport=transport, **options)


async def test_behind_a_trusted_proxy_the_throttle_counts_the_address_it_names(
    settings: dict[str, str], server: tuple[str, ...], tmp_path: Path
) -> None:
    """A network of proxies (127.0.0.0/8), the proxy at 127.0.0.2 (which no default trusts)."""
    trusting = settings | {"STOCKROOM_TRUSTED_PROXIES": "127.0.0.0/8"}
    with stockroom_serve(trusting, tmp_path, workers=1, args=server) as base:
        async with _from("127.0.0.2", timeout=TIMEOUT) as client:
            right = await _register(client, base)
            wrong = {**right, "password": "not the password"}
            statuses = []
            for _ in range(8):
                answer = await client.post(f"{base}/token", data=wrong, headers=ATTACKER)
                statuses.append(answer.status_code)
            attacker = await client.post(f"{base}/token", data=right, headers=ATTACKER)
            # Through the same proxy: the owner's address has no failure of its own.
            owner = await client.post(f"{base}/token", data=right, headers=OWNER_AT)

    assert statuses[:5] == [400] * 5, statuses
    assert statuses[-1] == 429, statuses
    assert attacker.status_code == 429, attacker.text
    assert owner.status_code == 200, owner.text


@pytest.mark.parametrize(
    ("environment", "said"),
    [
        ({"FORWARDED_ALLOW_IPS": "*"}, "$FORWARDED_ALLOW_IPS is not read"),
        ({"STOCKROOM_TRUSTED_PROXIES": "10.0.0.0/33"}, "trusted proxy '10.0.0.0/33' is no IP"),
    ],
)
def test_a_trust_that_would_not_be_in_force_is_refused_in_one_line(
    environment: dict[str, str], said: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment.items():
        if not name.startswith("STOCKROOM_"):
            monkeypatch.setenv(name, value)  # stockroom() passes the rest of the environment on
    settings = {
        name.removeprefix("STOCKROOM_").lower(): value
        for name, value in environment.items()
        if name.startswith("STOCKROOM_")
    }
    url = f"sqlite+aiosqlite:///{tmp_path / 'never.db'}"
    done = stockroom("serve", "--port", "1", url=url, **settings)

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert said in done.stderr
    assert not (tmp_path / "never.db").exists()  # refused before anything was done
