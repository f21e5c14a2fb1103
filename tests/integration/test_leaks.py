"""What an answer must not give away (issue 26), on a real database.

The consistency token exists only with replicas, so only on PostgreSQL: against a primary and a
streaming replica (``replicated_cluster``), the primary's write position is on a 2xx answer to
a write and on nothing else (F16), and a malformed token is refused without being repeated
(F13). On SQLite and PostgreSQL alike: the export is an admin's (F15), and account and order
answers, errors included, are ``no-store`` (F20/F21).
"""

from __future__ import annotations

import httpx
import pytest

from entrypoints.api.consistency import HEADER
from tests.api_support import Account, new_password
from tests.integration.test_replicas import Shop, shop  # noqa: F401 (the fixture)

MARKUP = "<img src=x onerror=alert(1)>"


@pytest.mark.postgres
async def test_only_a_committed_write_carries_the_primary_position(shop: Shop) -> None:  # noqa: F811
    wrong = {"username": shop.admin.email, "password": "not-the-password"}
    answers = {
        "failed login": await shop.client.post("/token", data=wrong),
        "failed login, slash": await shop.client.post("/token/", data=wrong),
        "anonymous write, no slash": await shop.client.post("/items", json={}),
        "anonymous write": await shop.client.post("/items/", json={}),
        "malformed write": await shop.client.post("/items/", json={}, headers=shop.admin.headers),
    }
    created = await shop.new_item()

    assert {name: answer.status_code for name, answer in answers.items()} == {
        "failed login": 400,
        "failed login, slash": 307,
        "anonymous write, no slash": 307,
        "anonymous write": 401,
        "malformed write": 422,
    }
    leaked = [name for name, answer in answers.items() if HEADER in answer.headers]
    assert leaked == [], "a response that committed nothing carries the write position"
    assert HEADER in created.headers


@pytest.mark.postgres
async def test_a_malformed_token_is_refused_without_repeating_it(shop: Shop) -> None:  # noqa: F811
    created = await shop.new_item()

    read = await shop.client.get(f"/items/{created.json()['id']}", headers={HEADER: MARKUP})

    assert read.status_code == 400
    assert "onerror" not in read.text
    assert read.headers["cache-control"] == "no-store"


async def test_the_export_is_an_admins(
    client: httpx.AsyncClient, admin: Account, customer: Account
) -> None:
    await client.post("/items/", json={"title": "Mug", "sku": "MUG-1"}, headers=admin.headers)

    anonymous = await client.get("/items/export")
    by_customer = await client.get("/items/export", headers=customer.headers)
    by_admin = await client.get("/items/export", headers=admin.headers)

    assert (anonymous.status_code, by_customer.status_code, by_admin.status_code) == (401, 403, 200)
    assert [line for line in by_admin.text.splitlines() if "MUG-1" in line]


async def test_account_and_order_answers_are_not_stored(
    client: httpx.AsyncClient, customer: Account
) -> None:
    wrong = {"username": customer.email, "password": "not-the-password"}
    answers = [
        await client.get("/orders/", headers=customer.headers),  # 200
        await client.get("/orders/2147483647", headers=customer.headers),  # 404
        await client.get("/orders/"),  # 401
        await client.post("/token", data=wrong),  # 400 invalid_grant
        await client.post("/users/", json={"email": customer.email, "password": new_password()}),
    ]

    assert [answer.status_code for answer in answers] == [200, 404, 401, 400, 409]
    assert {answer.headers.get("cache-control") for answer in answers} == {"no-store"}
