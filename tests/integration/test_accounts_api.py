"""Accounts that stay yours (issue 14), over HTTP on SQLite and PostgreSQL: revocation, no
silent promotion, no reused ids, and tokens that fail validation always 401, never 500.

Each test replays one finding of the attack report; the CLI steps run the real console script
on the same database, as an operator would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import text

from adapters.database import Database
from entrypoints.container import Container
from tests.api_support import new_password
from tests.conftest import TEST_SECRET_KEY
from tests.factories import item_payload
from tests.integration.cli_support import stockroom
from tests.integration.failure_support import outside_connection

INVALID = {"detail": "invalid or expired token"}


def _url(database: Database) -> str:
    return database.url.render_as_string(hide_password=False)


async def _register(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await client.post("/users/", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/token", data={"username": email, "password": password})


async def _token(client: httpx.AsyncClient, email: str, password: str) -> dict[str, str]:
    response = await _login(client, email, password)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _execute(database: Database, sql: str, **parameters: Any) -> None:
    async with outside_connection(database) as connection:
        await connection.execute(text(sql), parameters)
        await connection.commit()


# --- finding 1: admin pre-hijack -----------------------------------------------------------


async def test_create_admin_never_silently_promotes_and_promotion_revokes_old_tokens(
    client: httpx.AsyncClient, database: Database
) -> None:
    squatter_password = new_password()
    await _register(client, "ops@example.com", squatter_password)
    squatter = await _token(client, "ops@example.com", squatter_password)

    admin_password = new_password()
    refused = stockroom(
        "users",
        "create-admin",
        "ops@example.com",
        url=_url(database),
        admin_password=admin_password,
    )
    assert refused.returncode == 1
    assert "--promote" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    # Still a customer with the squatter's password: nothing changed.
    assert (await client.post("/items/", json=item_payload(), headers=squatter)).status_code == 403

    promoted = stockroom(
        "users",
        "create-admin",
        "ops@example.com",
        "--promote",
        url=_url(database),
        admin_password=admin_password,
    )
    assert promoted.returncode == 0, promoted.stderr
    assert "promoted admin ops@example.com" in promoted.stdout

    # The squatter's token was issued before the promotion: refused, and it writes nothing.
    response = await client.post("/items/", json=item_payload(), headers=squatter)
    assert (response.status_code, response.json()) == (401, INVALID)
    assert (await client.get("/users/me", headers=squatter)).status_code == 401
    assert (await _login(client, "ops@example.com", squatter_password)).status_code == 400

    admin = await _token(client, "ops@example.com", admin_password)
    assert (await client.post("/items/", json=item_payload(), headers=admin)).status_code == 201


# --- finding 2: revocation -----------------------------------------------------------------


async def test_password_change_revokes_older_tokens_and_returns_a_fresh_one(
    client: httpx.AsyncClient,
) -> None:
    old_password, new = new_password(), new_password()
    await _register(client, "pat@example.com", old_password)
    first = await _token(client, "pat@example.com", old_password)
    second = await _token(client, "pat@example.com", old_password)  # another device

    wrong = await client.post(
        "/users/me/password",
        json={"current_password": "not-the-password", "new_password": new},
        headers=first,
    )
    assert wrong.status_code == 403
    assert wrong.json() == {"detail": "the current password is not correct"}
    assert (await client.get("/users/me", headers=first)).status_code == 200  # nothing revoked

    changed = await client.post(
        "/users/me/password",
        json={"current_password": old_password, "new_password": new},
        headers=first,
    )
    assert changed.status_code == 200, changed.text
    assert changed.headers["cache-control"] == "no-store"
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}

    for stale in (first, second):
        response = await client.get("/users/me", headers=stale)
        assert (response.status_code, response.json()) == (401, INVALID)
    assert (await client.get("/users/me", headers=fresh)).status_code == 200
    assert (await _login(client, "pat@example.com", old_password)).status_code == 400
    assert (await _login(client, "pat@example.com", new)).status_code == 200


async def test_password_change_applies_the_password_policy(client: httpx.AsyncClient) -> None:
    password = new_password()
    await _register(client, "pia@example.com", password)
    headers = await _token(client, "pia@example.com", password)
    response = await client.post(
        "/users/me/password",
        json={"current_password": password, "new_password": "short"},
        headers=headers,
    )
    assert response.status_code == 422
    assert (await client.get("/users/me", headers=headers)).status_code == 200


async def test_logout_all_revokes_every_token_including_the_one_used(
    client: httpx.AsyncClient,
) -> None:
    password = new_password()
    await _register(client, "lou@example.com", password)
    used = await _token(client, "lou@example.com", password)
    other = await _token(client, "lou@example.com", password)

    response = await client.post("/users/me/logout-all", headers=used)
    assert response.status_code == 204
    assert response.headers["cache-control"] == "no-store"

    for stale in (used, other):
        assert (await client.get("/users/me", headers=stale)).status_code == 401
    again = await _token(client, "lou@example.com", password)  # the password still works
    assert (await client.get("/users/me", headers=again)).status_code == 200


async def test_cli_reset_password_and_deactivate_revoke_tokens_and_never_promote(
    client: httpx.AsyncClient, database: Database
) -> None:
    password = new_password()
    await _register(client, "rae@example.com", password)
    before = await _token(client, "rae@example.com", password)

    reset_to = new_password()
    reset = stockroom(
        "users", "reset-password", "rae@example.com", "--password", reset_to, url=_url(database)
    )
    assert reset.returncode == 0, reset.stderr
    assert reset_to not in reset.stdout + reset.stderr
    assert (await client.get("/users/me", headers=before)).status_code == 401
    after = await _token(client, "rae@example.com", reset_to)
    me = await client.get("/users/me", headers=after)
    assert me.json()["role"] == "customer"

    listed = stockroom("users", "list", url=_url(database))
    assert listed.returncode == 0, listed.stderr
    [row] = [line for line in listed.stdout.splitlines() if "rae@example.com" in line]
    assert "customer" in row.split()
    assert "yes" in row.split()

    deactivated = stockroom("users", "deactivate", "rae@example.com", url=_url(database))
    assert deactivated.returncode == 0, deactivated.stderr
    assert (await client.get("/users/me", headers=after)).status_code == 401
    assert (await _login(client, "rae@example.com", reset_to)).status_code == 400
    [row] = [
        line
        for line in stockroom("users", "list", url=_url(database)).stdout.splitlines()
        if "rae@example.com" in line
    ]
    assert "no" in row.split()

    unknown = stockroom("users", "deactivate", "nobody@example.com", url=_url(database))
    assert unknown.returncode == 1
    assert "nobody@example.com" not in unknown.stdout


# --- finding 3: ids never reused -----------------------------------------------------------


async def test_a_deleted_users_token_never_reads_a_new_account(
    client: httpx.AsyncClient, database: Database
) -> None:
    password = new_password()
    gone = await _register(client, "gone@example.com", password)
    gone_token = await _token(client, "gone@example.com", password)
    await _execute(database, "DELETE FROM users WHERE id = :id", id=gone["id"])

    newcomer = await _register(client, "new@example.com", new_password())

    assert newcomer["id"] > gone["id"]
    response = await client.get("/users/me", headers=gone_token)
    assert (response.status_code, response.json()) == (401, INVALID)


async def test_item_ids_are_never_reused(client: httpx.AsyncClient, container: Container) -> None:
    admin_password = new_password()
    stockroom_admin = await _register(client, "boss@example.com", admin_password)
    await _execute_promote(container, stockroom_admin["email"], admin_password)
    admin = await _token(client, "boss@example.com", admin_password)

    first = (await client.post("/items/", json=item_payload(), headers=admin)).json()
    assert (await client.delete(f"/items/{first['id']}", headers=admin)).status_code == 204
    second = (await client.post("/items/", json=item_payload(), headers=admin)).json()
    assert second["id"] > first["id"]


async def _execute_promote(container: Container, email: str, password: str) -> None:
    from service_layer.services import users as user_services

    hasher = container.password_hasher()
    await user_services.create_admin(container.uow(), hasher, email, password, promote=True)


async def test_a_token_issued_before_its_account_existed_is_refused(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Whatever reuses an id (a restored backup, a sequence reset by hand), a token older than
    the account it names belongs to someone else."""
    account = await _register(client, "late@example.com", new_password())
    created = datetime.fromisoformat(account["created_at"])
    claims = {
        "sub": str(account["id"]),
        "role": "customer",
        "ver": 0,
        "iat": created - timedelta(minutes=30),
        "exp": created + timedelta(minutes=30),
    }
    forged = jwt.encode(claims, TEST_SECRET_KEY, algorithm="HS256")
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {forged}"})
    assert (response.status_code, response.json()) == (401, INVALID)


# --- finding 7: out-of-range claims, signed with the real key ------------------------------


def _claims(user_id: int, **changes: Any) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    claims: dict[str, Any] = {
        "sub": str(user_id),
        "role": "customer",
        "ver": 0,
        "iat": now,
        "exp": now + 600,
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not _MISSING}


_MISSING = object()
_NOW = int(datetime.now(UTC).timestamp())
HOSTILE_CLAIMS: dict[str, dict[str, Any]] = {
    "sub 2^31": {"sub": str(2**31)},
    "sub 2^63": {"sub": str(2**63)},
    "sub 10^40": {"sub": "1" + "0" * 40},
    "sub 0": {"sub": "0"},
    "sub negative": {"sub": "-1"},
    "sub with a sign": {"sub": "+1"},
    "sub with spaces": {"sub": " 1"},
    "sub in other digits": {"sub": "\u0661"},  # ARABIC-INDIC DIGIT ONE: int() takes it
    "sub an integer": {"sub": 1},
    "sub missing": {"sub": _MISSING},
    "exp 10^30": {"exp": 10**30},
    "exp 1e400": {"exp": 1e400},
    "exp a float": {"exp": _NOW + 600.5},
    "exp a string": {"exp": str(_NOW + 600)},
    "exp missing": {"exp": _MISSING},
    "iat 10^30": {"iat": 10**30},
    "iat negative": {"iat": -(10**30)},
    "iat a string": {"iat": str(_NOW)},
    "iat missing": {"iat": _MISSING},
    "lifetime longer than configured": {"iat": _NOW - 60, "exp": _NOW + 24 * 3600},
    "exp before iat": {"iat": _NOW, "exp": _NOW - 10},
    "ver missing": {"ver": _MISSING},
    "ver 2^63": {"ver": 2**63},
    "ver a string": {"ver": "0"},
    "ver true": {"ver": True},
    "role missing": {"role": _MISSING},
    "role not a string": {"role": ["admin"]},
}


@pytest.mark.parametrize("case", sorted(HOSTILE_CLAIMS))
async def test_a_token_with_out_of_range_claims_is_401_never_500(
    client: httpx.AsyncClient, case: str
) -> None:
    account = await _register(
        client, f"t-{sorted(HOSTILE_CLAIMS).index(case)}@example.com", new_password()
    )
    claims = _claims(account["id"], **HOSTILE_CLAIMS[case])
    token = jwt.encode(claims, TEST_SECRET_KEY, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    for method, path in [("GET", "/users/me"), ("POST", "/items/"), ("GET", "/orders/")]:
        response = await client.request(method, path, headers=headers, json=item_payload())
        assert response.status_code == 401, (case, path, response.text)
        assert response.json() == INVALID
        assert response.headers["www-authenticate"] == "Bearer"


async def test_a_well_formed_token_of_the_real_key_still_works(client: httpx.AsyncClient) -> None:
    """The cases above fail for their claims, not for the way the test builds tokens."""
    account = await _register(client, "fine@example.com", new_password())
    token = jwt.encode(_claims(account["id"]), TEST_SECRET_KEY, algorithm="HS256")
    response = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


# --- caching, and registration's answer ----------------------------------------------------


async def test_token_and_account_responses_are_never_cached(client: httpx.AsyncClient) -> None:
    password = new_password()
    registered = await client.post(
        "/users/", json={"email": "cc@example.com", "password": password}
    )
    login = await _login(client, "cc@example.com", password)
    me = await client.get(
        "/users/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    for response in (registered, login, me):
        assert response.headers["cache-control"] == "no-store", response.request.url
    # Public catalog reads stay cacheable by whatever sits in front.
    assert "cache-control" not in (await client.get("/items/")).headers


async def test_registering_a_taken_email_says_so_and_changes_nothing(
    client: httpx.AsyncClient,
) -> None:
    """Kept on purpose (docs/security.md, "Accounts"): 409 names no address and touches
    nothing."""
    password = new_password()
    await _register(client, "kim@example.com", password)
    before = await _token(client, "kim@example.com", password)

    again = await client.post(
        "/users/", json={"email": "KIM@example.com", "password": new_password()}
    )

    assert (again.status_code, again.json()) == (
        409,
        {"detail": "that email is already registered"},
    )
    assert (await client.get("/users/me", headers=before)).status_code == 200
    assert (await _login(client, "kim@example.com", password)).status_code == 200
