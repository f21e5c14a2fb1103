"""``GET /items/?sku=`` and ``GET /orders/?status=`` on SQLite and PostgreSQL.

The run's database is shared with other tests: SKUs here are this test's own, and what an
admin sees is checked for this test's orders among everyone's."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from entrypoints.container import Container
from service_layer.reads import ItemFilter
from tests.api_support import Account, make_account
from tests.factories import item_payload


async def _item(client: httpx.AsyncClient, admin: Account, sku: str) -> dict[str, Any]:
    body = item_payload(sku=sku, quantity=50)
    response = await client.post("/items/", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def test_sku_filter_returns_exactly_that_item_among_many(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    run = secrets.token_hex(4).upper()
    made = [await _item(client, admin, f"F{run}-{n}") for n in range(5)]
    wanted = made[2]

    response = await client.get("/items/", params={"sku": f"  f{run.lower()}-2 "})

    assert response.status_code == 200, response.text
    assert response.json() == [wanted]
    assert (await client.get("/items/", params={"sku": f"F{run}-9"})).json() == []
    assert (await client.get("/items/", params={"sku": f"F{run}-2", "skip": 1})).json() == []
    # The read port's keyed pages (the export's) take the SKU too.
    reads = container.reads()
    before, after = made[1]["id"], made[2]["id"]
    wanted_sku = ItemFilter(sku=f"F{run}-2")
    assert [view.id for view in await reads.items(after_id=before, where=wanted_sku)] == [after]
    assert await reads.items(after_id=after, where=wanted_sku) == []


async def test_status_filters_orders_and_never_shows_anothers(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    ann = await make_account(container, admin=False)
    bob = await make_account(container, admin=False)
    sku = f"S{secrets.token_hex(4).upper()}"
    await _item(client, admin, sku)

    async def place(who: Account) -> int:
        body = {"lines": [{"sku": sku, "quantity": 1}]}
        response = await client.post("/orders/", json=body, headers=who.headers)
        assert response.status_code == 201, response.text
        order_id: int = response.json()["id"]
        return order_id

    async def act(who: Account, order_id: int, action: str) -> None:
        response = await client.post(f"/orders/{order_id}/{action}", headers=who.headers)
        assert response.status_code == 200, response.text

    ann_placed, ann_cancelled, ann_shipped = [await place(ann) for _ in range(3)]
    await act(ann, ann_cancelled, "cancel")
    await act(admin, ann_shipped, "ship")
    bob_placed, bob_cancelled = await place(bob), await place(bob)
    await act(bob, bob_cancelled, "cancel")

    async def listed(who: Account, status: str) -> list[int]:
        response = await client.get("/orders/", params={"status": status}, headers=who.headers)
        assert response.status_code == 200, response.text
        assert {order["status"] for order in response.json()} <= {status}
        return [order["id"] for order in response.json()]

    assert await listed(ann, "placed") == [ann_placed]
    assert await listed(ann, "cancelled") == [ann_cancelled]
    assert await listed(ann, "shipped") == [ann_shipped]
    assert await listed(bob, "placed") == [bob_placed]
    assert await listed(bob, "shipped") == []
    everyones_cancelled = await listed(admin, "cancelled")
    assert {ann_cancelled, bob_cancelled} <= set(everyones_cancelled)
    assert not {ann_placed, bob_placed, ann_shipped} & set(everyones_cancelled)

    response = await client.get("/orders/", params={"status": "lost"}, headers=ann.headers)
    assert response.status_code == 422, response.text
    assert all(f"'{s}'" in response.text for s in ("placed", "shipped", "cancelled"))
