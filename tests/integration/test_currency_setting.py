"""STOCKROOM_CURRENCY on a real ``stockroom serve``: every item and order it answers with is
labelled with the configured currency, amounts as text; a code that is not ISO 4217's form
stops the server before it serves anything, saying what a code looks like.

One database (SQLite) is enough: the currency is a label the HTTP answer carries, never
stored, so no query differs by database; tests/integration/test_api.py and test_orders_api.py
check the amounts' text form on both.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.integration.cli_support import stockroom
from tests.integration.servers import STOCKROOM, live_client, stockroom_serve

ADMIN = ("admin@example.com", "currency admin password")
BUYER = {"email": "buyer@example.com", "password": "currency buyer password"}
SECRET_KEY = "currency-test-signing-key-" + "0123456789abcdef" * 2


async def test_a_served_shop_labels_every_item_and_order_with_its_currency(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    made = stockroom("users", "create-admin", ADMIN[0], url=url, admin_password=ADMIN[1])
    assert made.returncode == 0, made.stderr
    settings = {
        "STOCKROOM_DATABASE_URL": url,
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        "STOCKROOM_CURRENCY": "USD",
    }
    with stockroom_serve(settings, tmp_path, workers=1) as base:
        async with live_client(base_url=base, timeout=30) as client:
            login = {"username": ADMIN[0], "password": ADMIN[1]}
            token = (await client.post("/token", data=login)).json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}
            item = {"title": "Mug", "sku": "MUG-1", "price": "8", "quantity": 5}
            created = await client.post("/items/", json=item, headers=admin)
            assert created.status_code == 201, created.text
            got = await client.get(f"/items/{created.json()['id']}")
            listed = await client.get("/items/")
            exported = await client.get("/items/export", headers=admin)

            assert (await client.post("/users/", json=BUYER)).status_code == 201
            login = {"username": BUYER["email"], "password": BUYER["password"]}
            token = (await client.post("/token", data=login)).json()["access_token"]
            buyer = {"Authorization": f"Bearer {token}"}
            order = {"lines": [{"sku": "MUG-1", "quantity": 2}]}
            placed = await client.post("/orders/", json=order, headers=buyer)
            assert placed.status_code == 201, placed.text
            orders = await client.get("/orders/", headers=buyer)

    items = [created.json(), got.json(), *listed.json()]
    items += [json.loads(line) for line in exported.text.splitlines()]
    assert [(item["price"], item["currency"]) for item in items] == [("8.00", "USD")] * 4
    for answer in (placed.json(), *orders.json()):
        assert (answer["total"], answer["currency"]) == ("16.00", "USD")
        assert [(line["unit_price"], line["total"]) for line in answer["lines"]] == [
            ("8.00", "16.00")
        ]


@pytest.mark.parametrize("code", ["eur", "EURO", "€", "E1R"])
def test_serve_refuses_a_currency_that_is_no_iso_4217_code(tmp_path: Path, code: str) -> None:
    result = subprocess.run(  # noqa: S603 - our own console script
        [STOCKROOM, "serve", "--port", "1"],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "STOCKROOM_CURRENCY": code},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    told = result.stdout + result.stderr
    assert "STOCKROOM_CURRENCY" in told
    assert "is not an ISO 4217 currency code: write three upper-case letters" in told
    assert "Traceback" not in told
    assert not (tmp_path / "shop.db").exists()
    assert not (tmp_path / "stockroom.db").exists()
