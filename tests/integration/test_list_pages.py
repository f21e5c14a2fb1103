"""Keyset pages and item filters on SQLite and PostgreSQL (issue 24).

- The storage contract: the read port's filters and count, the orders repository's keyed
  pages and count, alike on the fake, SQLite, PostgreSQL and PostgreSQL behind PgBouncer.
- The API in-process on each database: filters, ``count=true``, the refusals.
- The acceptance test against a real ``stockroom serve``: following rel="next" through 1,000
  items while another client inserts 100 more returns each of the first 1,000 exactly once.
- PostgreSQL plans title search on the trigram index (migration 0010).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers
from sqlalchemy import event, text

from adapters.database import Database
from domain.item import Item
from domain.order import Order, OrderLine, OrderStatus
from domain.user import User
from entrypoints import migrations
from entrypoints.api.pages import Listing, encode_cursor
from entrypoints.container import Container
from service_layer.reads import AbstractReads, ItemFilter
from tests.api_support import Account, build_test_container, make_account
from tests.conftest import TEST_SECRET_KEY
from tests.factories import item_payload
from tests.integration.conftest import UowFactory
from tests.integration.servers import live_client, stockroom_serve
from tests.integration.units import reads_of, unit_of_work
from tests.unit.test_list_pages import next_url, query_of

# --- the storage contract --------------------------------------------------------------------


async def _items(uow_factory: UowFactory, *rows: tuple[str, int, str]) -> list[int]:
    """Items from (title, quantity, price), committed in one unit; their ids, in order."""
    items = [
        Item(sku=f"F-{n}", title=title, quantity=quantity, price=Decimal(price))
        for n, (title, quantity, price) in enumerate(rows)
    ]
    async with uow_factory() as uow:
        for item in items:
            await uow.items.add(item)
        await uow.commit()
    return [item.id for item in items if item.id is not None]


async def test_reads_filter_and_count_items_alike_everywhere(
    uow_factory: UowFactory, reads: AbstractReads
) -> None:
    ids = await _items(
        uow_factory,
        ("Blue MUG", 0, "4.99"),
        ("mug tree", 3, "5.00"),
        ("100% cotton", 1, "12.50"),
        ("1000 cotton", 0, "12.51"),
        ("a_b", 2, "0.00"),
        ("axb", 2, "7.00"),
    )
    mug, tree, percent, thousand, underscore, axb = ids

    async def found(where: ItemFilter, after_id: int | None = None) -> list[int]:
        return [view.id for view in await reads.items(where=where, after_id=after_id)]

    assert await found(ItemFilter(title_contains="mug")) == [mug, tree]
    assert await found(ItemFilter(title_contains="MUG T")) == [tree]
    assert await found(ItemFilter(title_contains="%")) == [percent]
    assert await found(ItemFilter(title_contains="0% c")) == [percent]
    assert await found(ItemFilter(title_contains="_")) == [underscore]
    assert await found(ItemFilter(title_contains="/")) == []  # the escape character itself
    assert await found(ItemFilter(in_stock=True)) == [tree, percent, underscore, axb]
    assert await found(ItemFilter(in_stock=False)) == [mug, thousand]
    in_range = ItemFilter(min_price=Decimal("5.00"), max_price=Decimal("12.50"))
    assert await found(in_range) == [tree, percent, axb]
    assert await found(ItemFilter(max_price=Decimal("0"))) == [underscore]
    assert await found(ItemFilter(sku="F-3")) == [thousand]
    cotton_in_stock = ItemFilter(title_contains="cotton", in_stock=True)
    assert await found(cotton_in_stock) == [percent]
    assert await found(ItemFilter(title_contains="cotton"), after_id=percent) == [thousand]

    assert await reads.count_items() == 6
    assert await reads.count_items(ItemFilter(title_contains="cotton")) == 2
    assert await reads.count_items(in_range) == 3
    assert await reads.count_items(ItemFilter(title_contains="kettle")) == 0


async def test_orders_page_by_key_newest_first_and_count_alike_everywhere(
    uow_factory: UowFactory,
) -> None:
    ann = User(email="ann@example.com", password_hash="$argon2id$stand-in")
    bob = User(email="bob@example.com", password_hash="$argon2id$stand-in")
    async with uow_factory() as uow:
        await uow.users.add(ann)
        await uow.users.add(bob)
        await uow.commit()
    (item_id,) = await _items(uow_factory, ("Cup", 100, "1.00"))
    placed: list[Order] = []
    for n in range(7):
        order = Order(
            customer_id=(ann if n % 2 else bob).id,  # type: ignore[arg-type]
            lines=[OrderLine(item_id, "F-0", 1, Decimal("1.00"))],
        )
        async with uow_factory() as uow:
            await uow.orders.add(order)
            if n == 5:
                order.ship()
            await uow.commit()
        placed.append(order)
    anns = [order.id for order in reversed(placed) if order.customer_id == ann.id]
    everyone = [order.id for order in reversed(placed)]

    async with uow_factory() as uow:
        first = await uow.orders.list(customer_id=ann.id, limit=2)
        after = await uow.orders.list(customer_id=ann.id, before_id=first[-1].id, limit=2)
        everyones = await uow.orders.list(customer_id=None, before_id=everyone[2], limit=10)
        shipped = await uow.orders.list(
            customer_id=None, status=OrderStatus.SHIPPED, before_id=everyone[0]
        )
        counts = (
            await uow.orders.count(customer_id=ann.id),
            await uow.orders.count(customer_id=bob.id),
            await uow.orders.count(customer_id=None),
            await uow.orders.count(customer_id=ann.id, status=OrderStatus.SHIPPED),
            await uow.orders.count(customer_id=bob.id, status=OrderStatus.SHIPPED),
        )

    assert [order.id for order in first + list(after)] == anns[:4]
    assert [order.id for order in everyones] == everyone[3:]
    assert [order.id for order in shipped] == [placed[5].id]
    assert counts == (3, 4, 7, 1, 0)


# --- the API, in-process, on each database ----------------------------------------------------


async def _post_items(
    client: httpx.AsyncClient, admin: Account, *rows: tuple[str, int, str]
) -> list[int]:
    ids = []
    for title, quantity, price in rows:
        body = item_payload(title=title, quantity=quantity, price=price)
        response = await client.post("/items/", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def _ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get("/items/", params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def test_item_filters_count_and_pages_over_http(
    client: httpx.AsyncClient, admin: Account
) -> None:
    mug, tree, percent, plain = await _post_items(
        client,
        admin,
        ("Blue MUG", 0, "4.99"),
        ("mug tree", 3, "5.00"),
        ("100% mug", 1, "12.50"),
        ("Teapot", 2, "30.00"),
    )

    assert await _ids(client, q="mug") == [mug, tree, percent]
    assert await _ids(client, q="0%") == [percent]
    assert await _ids(client, in_stock="true") == [tree, percent, plain]
    assert await _ids(client, in_stock="false") == [mug]
    assert await _ids(client, min_price="5", max_price="12.5") == [tree, percent]
    counted = await client.get("/items/", params={"q": "mug", "limit": 2, "count": "true"})
    assert counted.headers["x-total-count"] == "3"
    assert [Decimal(str(item["price"])) for item in counted.json()] == [
        Decimal("4.99"),
        Decimal("5.00"),
    ]
    following = next_url(counted)
    assert following is not None
    assert query_of(following)["q"] == ["mug"]
    rest = await client.get(following)
    assert [item["id"] for item in rest.json()] == [percent]
    assert next_url(rest) is None


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"serach": "mug"}, ["query", "serach"]),
        ({"min_price": "5", "max_price": "1"}, ["query", "max_price"]),
        ({"cursor": "garbage"}, ["query", "cursor"]),
        ({"cursor": "AWkAAAAAAAAAAQ", "skip": "3"}, ["query", "skip"]),
        # Past the INTEGER ids: the driver would overflow on it (a 500) were it not refused.
        ({"cursor": encode_cursor(Listing.ITEMS, 2**63)}, ["query", "cursor"]),
    ],
)
async def test_what_the_items_list_refuses_over_http(
    client: httpx.AsyncClient, params: dict[str, str], where: list[str]
) -> None:
    response = await client.get("/items/", params=params)

    assert response.status_code == 422, response.text
    assert [problem["loc"] for problem in response.json()["detail"]] == [where]


async def test_orders_pages_newest_first_and_each_customer_sees_their_own(
    client: httpx.AsyncClient, container: Container, admin: Account
) -> None:
    ann = await make_account(container, admin=False)
    bob = await make_account(container, admin=False)
    body = item_payload(sku="PAGE-CUP", quantity=100)
    assert (await client.post("/items/", json=body, headers=admin.headers)).status_code == 201
    placed: dict[int, list[int]] = {ann.id: [], bob.id: []}
    for n in range(7):
        who = ann if n % 2 else bob
        order = {"lines": [{"sku": "PAGE-CUP", "quantity": 1}]}
        response = await client.post("/orders/", json=order, headers=who.headers)
        assert response.status_code == 201, response.text
        placed[who.id].append(response.json()["id"])

    for who in (ann, bob):
        seen: list[int] = []
        following: str | None = "/orders/?limit=2&count=true"
        while following is not None:
            response = await client.get(following, headers=who.headers)
            assert response.status_code == 200, response.text
            assert response.headers["x-total-count"] == str(len(placed[who.id]))
            seen += [order["id"] for order in response.json()]
            following = next_url(response)
        assert seen == sorted(placed[who.id], reverse=True)


# --- the acceptance test, against a real server ------------------------------------------------

FIRST = 1_000
INSERTED_MEANWHILE = 100
PAGE = 37  # pages that do not divide the catalog evenly


async def _catalog_of(database: Database, count: int) -> list[int]:
    items = [
        Item(sku=f"WALK-{n:05d}", title=f"Walk {n}", price=Decimal("1.00"), quantity=1)
        for n in range(count)
    ]
    async with unit_of_work(database) as uow:
        for item in items:
            await uow.items.add(item)
        await uow.commit()
    return [item.id for item in items if item.id is not None]


async def test_following_next_through_1000_items_while_100_are_inserted_sees_each_once(
    fresh_database: Database, tmp_path: Path
) -> None:
    first = await _catalog_of(fresh_database, FIRST)
    admin = await _admin_on(fresh_database)
    settings = {
        "STOCKROOM_DATABASE_URL": fresh_database.url.render_as_string(hide_password=False),
        "STOCKROOM_SECRET_KEY": TEST_SECRET_KEY,
    }
    with stockroom_serve(settings, tmp_path, workers=2) as base:
        async with (
            live_client(base_url=base, timeout=30) as walker,
            live_client(base_url=base, timeout=30) as inserter,
        ):
            token = await _token(inserter, admin)
            inserted: list[int] = []

            async def insert(count: int) -> None:
                for _ in range(min(count, INSERTED_MEANWHILE - len(inserted))):
                    body = item_payload(quantity=1)
                    answer = await inserter.post("/items/", json=body, headers=token)
                    assert answer.status_code == 201, answer.text
                    inserted.append(answer.json()["id"])

            seen: list[int] = []
            following: str | None = f"/items/?limit={PAGE}"
            while following is not None:
                # The other client inserts while this one pages: some before, some during.
                response, _ = await asyncio.gather(walker.get(following), insert(2))
                assert response.status_code == 200, response.text
                seen += [item["id"] for item in response.json()]
                following = next_url(response)
                await insert(2)

    assert len(inserted) == INSERTED_MEANWHILE
    assert [found for found in seen if found in set(first)] == first  # each once, in order
    assert len(seen) == len(set(seen))
    assert set(seen) <= set(first) | set(inserted)


async def _admin_on(database: Database) -> Account:
    """An admin account made straight in ``database``, as the CLI makes one."""
    container = build_test_container()
    container.database.override(providers.Object(database))
    return await make_account(container, admin=True)


async def _token(client: httpx.AsyncClient, account: Account) -> dict[str, str]:
    credentials = {"username": account.email, "password": account.password}
    answer = await client.post("/token", data=credentials)
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


# --- PostgreSQL: title search on the trigram index ---------------------------------------------


@pytest.mark.postgres
async def test_postgresql_searches_titles_on_the_trigram_index(
    postgres_database: Database,
) -> None:
    """The statement the read port really sends for ``?q=``, explained on a catalog large
    enough that a scan would be the plan without a usable index."""
    async with postgres_database.engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO items (sku, title, price_cents, quantity) "
                "SELECT 'TRGM-' || g, 'Item ' || md5(g::text), 100, g % 3 "
                "FROM generate_series(1, 20000) AS g"
            )
        )
    # What autovacuum does to a table that grew: statistics, and the index's pending list
    # (GIN's fast update) merged, which the planner would otherwise count as extra cost.
    async with postgres_database.engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM ANALYZE items"))
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    engine = postgres_database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        found = await reads_of(postgres_database).items(where=ItemFilter(title_contains="MUG%"))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert found == []
    ((statement, parameters),) = sent

    async with postgres_database.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        plan = await raw.driver_connection.fetch(f"EXPLAIN {statement}", *parameters)

    lines = "\n".join(row[0] for row in plan)
    assert "ix_items_title_trgm" in lines, lines


async def _item_indexes(database: Database) -> set[str]:
    if database.dialect == "postgresql":
        listed = "SELECT indexname FROM pg_indexes WHERE tablename = 'items'"
    else:
        listed = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'"
    async with database.engine.connect() as connection:
        return set((await connection.execute(text(listed))).scalars())


async def test_migration_0010_indexes_titles_on_postgresql_only_and_downgrades(
    fresh_database: Database,
) -> None:
    url = fresh_database.url.render_as_string(hide_password=False)
    at_head = await _item_indexes(fresh_database)
    await asyncio.to_thread(migrations.downgrade, url, "0009_address_activity")
    before = await _item_indexes(fresh_database)
    await migrations.upgrade_engine(fresh_database.engine)
    again = await _item_indexes(fresh_database)

    on_postgresql = fresh_database.dialect == "postgresql"
    assert ("ix_items_title_trgm" in at_head) is on_postgresql
    assert at_head - before == ({"ix_items_title_trgm"} if on_postgresql else set())
    assert again == at_head
