"""``Cache-Control: no-store`` on every account and order answer, success and error alike
(issue 26, F20/F21), and the export for admins only (F15)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.api_support import Account, new_password
from tests.factories import item_payload

Ask = Callable[[httpx.AsyncClient, Account, Account], Awaitable[httpx.Response]]


async def _order(client: httpx.AsyncClient, admin: Account, buyer: Account) -> httpx.Response:
    created = await client.post("/items/", json=item_payload(quantity=5), headers=admin.headers)
    lines = [{"sku": created.json()["sku"], "quantity": 1}]
    return await client.post("/orders/", json={"lines": lines}, headers=buyer.headers)


async def _cancelled_twice(
    client: httpx.AsyncClient, admin: Account, buyer: Account
) -> httpx.Response:
    order_id = (await _order(client, admin, buyer)).json()["id"]
    await client.post(f"/orders/{order_id}/cancel", headers=buyer.headers)
    return await client.post(f"/orders/{order_id}/cancel", headers=buyer.headers)


async def _throttled(client: httpx.AsyncClient, _admin: Account, buyer: Account) -> httpx.Response:
    wrong = {"username": buyer.email, "password": "not-the-password"}
    for _ in range(100):
        answer = await client.post("/token", data=wrong)
        if answer.status_code == 429:
            break
    return answer


ASKS: dict[str, tuple[int, Ask]] = {
    "place an order": (201, _order),
    "list orders": (200, lambda c, _a, b: c.get("/orders/", headers=b.headers)),
    "list orders signed out": (401, lambda c, _a, _b: c.get("/orders/")),
    "an unknown order": (
        404,
        lambda c, _a, b: c.get("/orders/2147483647", headers=b.headers),
    ),
    "ship as a customer": (403, lambda c, _a, b: c.post("/orders/1/ship", headers=b.headers)),
    "cancel twice": (409, _cancelled_twice),
    "a malformed order": (422, lambda c, _a, b: c.post("/orders/", json={}, headers=b.headers)),
    "orders by DELETE": (405, lambda c, _a, b: c.delete("/orders/", headers=b.headers)),
    "who am I": (200, lambda c, _a, b: c.get("/users/me", headers=b.headers)),
    "who am I signed out": (401, lambda c, _a, _b: c.get("/users/me")),
    "register": (
        201,
        lambda c, _a, _b: c.post(
            "/users/", json={"email": "new@example.com", "password": new_password()}
        ),
    ),
    "register a taken email": (
        409,
        lambda c, _a, b: c.post("/users/", json={"email": b.email, "password": new_password()}),
    ),
    "register malformed": (422, lambda c, _a, _b: c.post("/users/", json={})),
    "register a huge body": (
        413,
        lambda c, _a, _b: c.post("/users/", content=b"{" + b" " * 200_000 + b"}"),
    ),
    "log in": (
        200,
        lambda c, _a, b: c.post("/token", data={"username": b.email, "password": b.password}),
    ),
    "log in wrongly": (
        400,
        lambda c, _a, b: c.post("/token", data={"username": b.email, "password": "wrong-one"}),
    ),
    "log in too often": (429, _throttled),
    "change password wrongly": (
        403,
        lambda c, _a, b: c.post(
            "/users/me/password",
            json={"current_password": "wrong-one", "new_password": new_password()},
            headers=b.headers,
        ),
    ),
}


@pytest.mark.parametrize("ask", sorted(ASKS))
async def test_every_account_and_order_answer_is_no_store(
    client: httpx.AsyncClient, admin: Account, customer: Account, ask: str
) -> None:
    status, request = ASKS[ask]

    answer = await request(client, admin, customer)

    assert answer.status_code == status, answer.text
    assert answer.headers.get("cache-control") == "no-store"


# ---- F15: the whole catalog at once is an admin's -----------------------------------------


async def test_the_export_needs_a_token(client: httpx.AsyncClient) -> None:
    answer = await client.get("/items/export")

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


async def test_a_customer_may_not_export_and_pages_instead(
    client: httpx.AsyncClient, admin: Account, customer: Account
) -> None:
    await client.post("/items/", json=item_payload(), headers=admin.headers)

    export = await client.get("/items/export", headers=customer.headers)
    page = await client.get("/items/", params={"limit": 10}, headers=customer.headers)

    assert export.status_code == 403
    assert page.status_code == 200
    assert len(page.json()) == 1


async def test_an_admin_exports(client: httpx.AsyncClient, admin: Account) -> None:
    await client.post("/items/", json=item_payload(), headers=admin.headers)

    export = await client.get("/items/export", headers=admin.headers)

    assert export.status_code == 200
    assert export.headers["content-type"] == "application/x-ndjson"
    assert len(export.text.splitlines()) == 1
