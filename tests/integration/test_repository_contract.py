"""One contract, three implementations: the fake, SQLite and PostgreSQL must agree.

Each test uses fresh units of work from ``uow_factory`` over one shared store, so "persisted"
means visible to a later, separate unit of work, exactly as a service sees it.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.catalog_import import CatalogRow, ImportedBatch, StockMode
from domain.errors import (
    DuplicateSku,
    EmailTaken,
    IdempotencyKeyTaken,
    ImportBatchTaken,
    UnknownItem,
    UnknownOrder,
    UnknownUser,
)
from domain.idempotency import IdempotencyRecord
from domain.order import Order, OrderLine, OrderStatus
from domain.user import Role, User
from service_layer.reads import AbstractReads
from tests.factories import ItemFactory
from tests.integration.conftest import UowFactory


async def _store(uow_factory: UowFactory, **fields: object) -> int:
    item = ItemFactory(**fields)
    async with uow_factory() as uow:
        await uow.items.add(item)
        await uow.commit()
    assert isinstance(item.id, int)
    return item.id


async def test_added_and_committed_item_can_be_read_back(uow_factory: UowFactory) -> None:
    original = ItemFactory(sku="ab-1", price=Decimal("12345678.91"), quantity=7, description=None)
    async with uow_factory() as uow:
        await uow.items.add(original)
        await uow.commit()

    async with uow_factory() as uow:
        found = await uow.items.get(original.id)  # type: ignore[arg-type]

    assert (found.id, found.sku, found.title, found.description) == (
        original.id,
        "AB-1",
        original.title,
        None,
    )
    assert found.price == Decimal("12345678.91")
    assert found.quantity == 7


async def test_prices_round_trip_exactly(uow_factory: UowFactory) -> None:
    prices = [
        Decimal("0"),
        Decimal("0.01"),
        Decimal("0.10"),
        Decimal("19.99"),
        Decimal("99999999.99"),
    ]
    ids = [await _store(uow_factory, price=price) for price in prices]
    async with uow_factory() as uow:
        stored = [(await uow.items.get(item_id)).price for item_id in ids]
    assert stored == prices
    assert [price.as_tuple().exponent for price in stored] == [-2] * len(prices)


async def test_get_unknown_item_raises(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(UnknownItem):
            await uow.items.get(999_999)
        with pytest.raises(UnknownItem):
            await uow.items.get_for_update(999_999)


async def test_list_is_ordered_by_id_and_paginated(uow_factory: UowFactory) -> None:
    ids = [await _store(uow_factory) for _ in range(5)]
    async with uow_factory() as uow:
        everything = [item.id for item in await uow.items.list(skip=0, limit=100)]
        page = [item.id for item in await uow.items.list(skip=1, limit=2)]
        past_the_end = await uow.items.list(skip=5, limit=10)
    assert everything == sorted(ids)
    assert page == sorted(ids)[1:3]
    assert list(past_the_end) == []


async def test_deleted_item_is_gone(uow_factory: UowFactory) -> None:
    item_id = await _store(uow_factory)
    async with uow_factory() as uow:
        await uow.items.delete(await uow.items.get(item_id))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(UnknownItem):
            await uow.items.get(item_id)


async def test_duplicate_sku_is_refused_at_commit_and_keeps_the_original(
    uow_factory: UowFactory,
) -> None:
    original_id = await _store(uow_factory, sku="DUP-1", title="first")
    async with uow_factory() as uow:
        await uow.items.add(ItemFactory(sku="dup-1", title="second"))
        with pytest.raises(DuplicateSku):
            await uow.commit()

    async with uow_factory() as uow:
        items = await uow.items.list(skip=0, limit=100)
    assert [(item.id, item.title) for item in items] == [(original_id, "first")]


async def test_changing_sku_to_a_taken_one_is_refused(uow_factory: UowFactory) -> None:
    await _store(uow_factory, sku="TAKEN")
    other_id = await _store(uow_factory, sku="FREE")
    async with uow_factory() as uow:
        other = await uow.items.get(other_id)
        other.change_sku("taken")
        with pytest.raises(DuplicateSku):
            await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.items.get(other_id)).sku == "FREE"


async def test_changes_without_commit_are_discarded(uow_factory: UowFactory) -> None:
    item_id = await _store(uow_factory, quantity=5)
    async with uow_factory() as uow:
        item = await uow.items.get(item_id)
        item.restock(10)
        await uow.items.add(ItemFactory(sku="NEVER-SAVED"))
    async with uow_factory() as uow:
        assert (await uow.items.get(item_id)).quantity == 5
        assert [item.id for item in await uow.items.list()] == [item_id]


async def test_committed_changes_to_a_loaded_item_persist(uow_factory: UowFactory) -> None:
    item_id = await _store(uow_factory, quantity=5, price=Decimal("1.00"))
    async with uow_factory() as uow:
        item = await uow.items.get_for_update(item_id)
        item.restock(3)
        item.reprice(Decimal("2.50"))
        await uow.commit()
    async with uow_factory() as uow:
        item = await uow.items.get(item_id)
    assert (item.quantity, item.price) == (8, Decimal("2.50"))


async def test_exception_in_block_rolls_back_and_propagates(uow_factory: UowFactory) -> None:
    item_id = await _store(uow_factory, quantity=1)

    class Boom(Exception):
        pass

    async def restock_then_fail() -> None:
        async with uow_factory() as uow:
            (await uow.items.get(item_id)).restock(99)
            raise Boom

    with pytest.raises(Boom):
        await restock_then_fail()
    async with uow_factory() as uow:
        assert (await uow.items.get(item_id)).quantity == 1


async def _store_user(uow_factory: UowFactory, email: str, role: Role = Role.CUSTOMER) -> User:
    user = User(email=email, password_hash="$argon2id$stand-in", role=role)
    async with uow_factory() as uow:
        await uow.users.add(user)
        await uow.commit()
    return user


async def test_users_round_trip_with_aware_timestamps_and_roles(uow_factory: UowFactory) -> None:
    stored = await _store_user(uow_factory, "Round@Trip.example", Role.ADMIN)
    async with uow_factory() as uow:
        by_id = await uow.users.get(stored.id)  # type: ignore[arg-type]
        by_email = await uow.users.get_by_email("round@trip.example")
        missing = await uow.users.get_by_email("nobody@trip.example")
    assert by_email is by_id
    assert missing is None
    assert (by_id.email, by_id.role, by_id.is_active) == ("round@trip.example", Role.ADMIN, True)
    assert by_id.role is Role.ADMIN
    assert by_id.created_at == stored.created_at
    assert by_id.created_at.utcoffset() == timedelta(0)


async def test_unknown_user_raises(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        with pytest.raises(UnknownUser):
            await uow.users.get(424_242)


async def test_duplicate_email_is_refused_at_commit(uow_factory: UowFactory) -> None:
    await _store_user(uow_factory, "twice@example.com")
    with pytest.raises(EmailTaken):
        await _store_user(uow_factory, "TWICE@example.com")
    async with uow_factory() as uow:
        assert (await uow.users.get_by_email("twice@example.com")) is not None


async def test_user_changes_persist_only_when_committed(uow_factory: UowFactory) -> None:
    stored = await _store_user(uow_factory, "change@example.com")
    async with uow_factory() as uow:
        (await uow.users.get(stored.id)).deactivate()  # type: ignore[arg-type]
    async with uow_factory() as uow:
        user = await uow.users.get(stored.id)  # type: ignore[arg-type]
        assert user.is_active
        user.promote_to_admin()
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.users.get(stored.id)).role is Role.ADMIN  # type: ignore[arg-type]


async def test_credentials_version_round_trips_and_locked_reads_see_it(
    uow_factory: UowFactory, reads: AbstractReads
) -> None:
    stored = await _store_user(uow_factory, "locked@example.com")
    assert stored.id is not None
    async with uow_factory() as uow:
        user = await uow.users.get_for_update(stored.id)
        assert user.credentials_version == 0
        user.revoke_tokens()
        await uow.commit()
    async with uow_factory() as uow:
        by_email = await uow.users.get_by_email("locked@example.com", for_update=True)
        assert by_email is not None
        assert by_email.credentials_version == 1
        with pytest.raises(UnknownUser):
            await uow.users.get_for_update(424_242)
        assert await uow.users.get_by_email("nobody@example.com", for_update=True) is None
    view = await reads.user(stored.id)
    assert view is not None
    assert view.credentials_version == 1


async def test_users_are_listed_in_id_order_by_page(uow_factory: UowFactory) -> None:
    ids = [(await _store_user(uow_factory, f"list-{n}@example.com")).id for n in range(3)]
    async with uow_factory() as uow:
        assert [user.id for user in await uow.users.list()] == ids
        assert [user.id for user in await uow.users.list(skip=1, limit=1)] == ids[1:2]


async def _stored_order(uow_factory: UowFactory, customer_id: int, *item_ids: int) -> Order:
    order = Order(
        customer_id=customer_id,
        lines=[OrderLine(item_id, f"SKU-{item_id}", 2, Decimal("1.25")) for item_id in item_ids],
    )
    async with uow_factory() as uow:
        await uow.orders.add(order)
        assert order.id is not None  # ids exist as soon as add() returns
        await uow.commit()
    return order


async def test_orders_round_trip_with_lines_readable_after_the_unit(
    uow_factory: UowFactory,
) -> None:
    customer = await _store_user(uow_factory, "buyer@example.com")
    first, second = await _store(uow_factory), await _store(uow_factory)
    stored = await _stored_order(uow_factory, customer.id, first, second)  # type: ignore[arg-type]

    async with uow_factory() as uow:
        loaded = await uow.orders.get(stored.id)  # type: ignore[arg-type]
    # The unit is over: the lines must already be loaded (no lazy IO on a closed session).
    assert [(line.item_id, line.quantity, line.unit_price) for line in loaded.lines] == [
        (first, 2, Decimal("1.25")),
        (second, 2, Decimal("1.25")),
    ]
    assert loaded.total == Decimal("5.00")
    assert loaded.status is OrderStatus.PLACED
    assert loaded.created_at == stored.created_at


async def test_orders_list_newest_first_per_customer(uow_factory: UowFactory) -> None:
    ann = await _store_user(uow_factory, "ann@example.com")
    bob = await _store_user(uow_factory, "bob@example.com")
    item_id = await _store(uow_factory)
    ann_orders = [await _stored_order(uow_factory, ann.id, item_id) for _ in range(3)]  # type: ignore[arg-type]
    bob_order = await _stored_order(uow_factory, bob.id, item_id)  # type: ignore[arg-type]

    async with uow_factory() as uow:
        mine = [order.id for order in await uow.orders.list(customer_id=ann.id)]
        everyone = [order.id for order in await uow.orders.list(customer_id=None, limit=2)]
        second_page = [o.id for o in await uow.orders.list(customer_id=ann.id, skip=1, limit=1)]
    assert mine == [order.id for order in reversed(ann_orders)]
    assert everyone == [bob_order.id, ann_orders[-1].id]
    assert second_page == [ann_orders[1].id]


async def test_order_status_changes_persist(uow_factory: UowFactory) -> None:
    customer = await _store_user(uow_factory, "ship@example.com")
    stored = await _stored_order(uow_factory, customer.id, await _store(uow_factory))  # type: ignore[arg-type]
    async with uow_factory() as uow:
        (await uow.orders.get_for_update(stored.id)).ship()  # type: ignore[arg-type]
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.orders.get(stored.id)).status is OrderStatus.SHIPPED  # type: ignore[arg-type]
        with pytest.raises(UnknownOrder):
            await uow.orders.get(999_999)


async def test_exists_for_item_and_locking_by_sku(uow_factory: UowFactory) -> None:
    customer = await _store_user(uow_factory, "lock@example.com")
    ordered = await _store(uow_factory, sku="LOCK-B")
    unordered = await _store(uow_factory, sku="LOCK-A")
    await _stored_order(uow_factory, customer.id, ordered)  # type: ignore[arg-type]
    async with uow_factory() as uow:
        assert await uow.orders.exists_for_item(ordered)
        assert not await uow.orders.exists_for_item(unordered)
        locked = await uow.items.lock_by_skus(["LOCK-B", "LOCK-A", "NOPE"])
        by_id = await uow.items.lock_by_ids([unordered, ordered])
    assert [item.id for item in locked] == sorted([ordered, unordered])
    assert [item.id for item in by_id] == sorted([ordered, unordered])


async def test_idempotency_keys_are_per_customer_and_unique(uow_factory: UowFactory) -> None:
    ann = await _store_user(uow_factory, "key-ann@example.com")
    bob = await _store_user(uow_factory, "key-bob@example.com")
    order = await _stored_order(uow_factory, ann.id, await _store(uow_factory))  # type: ignore[arg-type]
    record = IdempotencyRecord(ann.id, "k-1", "f" * 64, order.id)  # type: ignore[arg-type]
    async with uow_factory() as uow:
        await uow.idempotency.add(record)
        await uow.commit()

    async with uow_factory() as uow:
        found = await uow.idempotency.get(ann.id, "k-1")  # type: ignore[arg-type]
        assert await uow.idempotency.get(bob.id, "k-1") is None  # type: ignore[arg-type]
    assert found is not None
    assert (found.order_id, found.request_fingerprint) == (order.id, "f" * 64)

    async with uow_factory() as uow:
        await uow.idempotency.add(IdempotencyRecord(ann.id, "k-1", "0" * 64, order.id))  # type: ignore[arg-type]
        with pytest.raises(IdempotencyKeyTaken):
            await uow.commit()


async def test_a_removed_idempotency_key_can_be_stored_again_in_the_same_unit(
    uow_factory: UowFactory,
) -> None:
    ann = await _store_user(uow_factory, "renew-ann@example.com")
    item = await _store(uow_factory)
    first = await _stored_order(uow_factory, ann.id, item)  # type: ignore[arg-type]
    second = await _stored_order(uow_factory, ann.id, item)  # type: ignore[arg-type]
    async with uow_factory() as uow:
        await uow.idempotency.add(IdempotencyRecord(ann.id, "k-renew", "a" * 64, first.id))  # type: ignore[arg-type]
        await uow.commit()

    async with uow_factory() as uow:
        old = await uow.idempotency.get(ann.id, "k-renew")  # type: ignore[arg-type]
        assert old is not None
        await uow.idempotency.remove(old)
        await uow.idempotency.add(IdempotencyRecord(ann.id, "k-renew", "b" * 64, second.id))  # type: ignore[arg-type]
        # Never stored (or purged meanwhile): removing it is no error.
        await uow.idempotency.remove(IdempotencyRecord(ann.id, "k-none", "c" * 64, first.id))  # type: ignore[arg-type]
        await uow.commit()

    async with uow_factory() as uow:
        renewed = await uow.idempotency.get(ann.id, "k-renew")  # type: ignore[arg-type]
    assert renewed is not None
    assert (renewed.order_id, renewed.request_fingerprint) == (second.id, "b" * 64)


async def test_old_idempotency_keys_are_removed_oldest_first_up_to_a_limit(
    uow_factory: UowFactory,
) -> None:
    # Long ago, so no other test's keys (created now) are old enough to be touched.
    cutoff = datetime(2001, 1, 1, tzinfo=UTC)
    ann = await _store_user(uow_factory, "purge-ann@example.com")
    order = await _stored_order(uow_factory, ann.id, await _store(uow_factory))  # type: ignore[arg-type]
    ages = {"k-3h": -3, "k-2h": -2, "k-at": 0, "k-later": 1}
    async with uow_factory() as uow:
        for key, hours in ages.items():
            created_at = cutoff + timedelta(hours=hours)
            await uow.idempotency.add(
                IdempotencyRecord(ann.id, key, "f" * 64, order.id, created_at=created_at)  # type: ignore[arg-type]
            )
        await uow.commit()

    async with uow_factory() as uow:
        first = await uow.idempotency.remove_created_before(cutoff, limit=2)
        await uow.commit()
    async with uow_factory() as uow:
        left_after_first = {key for key in ages if await uow.idempotency.get(ann.id, key)}  # type: ignore[arg-type]
    async with uow_factory() as uow:
        second = await uow.idempotency.remove_created_before(cutoff, limit=10)
        await uow.commit()
    async with uow_factory() as uow:
        left = {key for key in ages if await uow.idempotency.get(ann.id, key)}  # type: ignore[arg-type]

    assert (first, left_after_first) == (2, {"k-at", "k-later"})
    assert (second, left) == (1, {"k-later"})


async def test_reads_see_committed_data_only(uow_factory: UowFactory, reads: AbstractReads) -> None:
    """The read port sees what was committed, never a unit's work in progress (on SQLAlchemy
    even once flushed: ``test_unit_of_work.py``)."""
    item_id = await _store(uow_factory, quantity=4, price=Decimal("3.50"), sku="VIEW-1")
    async with uow_factory() as uow:
        (await uow.items.get(item_id)).restock(10)
        seen_meanwhile = await reads.item(item_id)
    assert seen_meanwhile is not None
    assert (seen_meanwhile.sku, seen_meanwhile.quantity, seen_meanwhile.price) == (
        "VIEW-1",
        4,
        Decimal("3.50"),
    )
    assert await reads.item(999_999) is None


async def test_reads_page_by_offset_and_by_key(
    uow_factory: UowFactory, reads: AbstractReads
) -> None:
    ids = [await _store(uow_factory, quantity=n) for n in range(5)]
    assert [view.id for view in await reads.items()] == ids
    assert [view.id for view in await reads.items(skip=1, limit=2)] == ids[1:3]
    assert [view.id for view in await reads.items(after_id=ids[2], limit=10)] == ids[3:]
    chosen = await reads.items_by_ids([ids[4], ids[0], 999_999, ids[0]])
    assert [view.id for view in chosen] == [ids[0], ids[4]]


async def test_reads_see_users_without_their_hash(
    uow_factory: UowFactory, reads: AbstractReads
) -> None:
    stored = await _store_user(uow_factory, "viewer@example.com", Role.ADMIN)
    view = await reads.user(stored.id)  # type: ignore[arg-type]
    assert view is not None
    assert (view.email, view.role, view.is_active) == ("viewer@example.com", Role.ADMIN, True)
    assert view.created_at == stored.created_at
    assert "password_hash" not in {field.name for field in dataclasses.fields(view)}
    assert await reads.user(424_242) is None


async def test_one_row_is_one_object_within_a_unit(uow_factory: UowFactory) -> None:
    first_id = await _store(uow_factory)
    await _store(uow_factory)
    async with uow_factory() as uow:
        first = await uow.items.get(first_id)
        listed = await uow.items.list()
    assert [item for item in listed if item.id == first_id] == [first]
    assert any(item is first for item in listed), "a second object for the same row"


async def test_the_import_journal_keeps_a_files_committed_batches_in_line_order(
    uow_factory: UowFactory,
) -> None:
    at = datetime(2026, 11, 27, 12, tzinfo=UTC)
    first, second = "a" * 64, "b" * 64
    async with uow_factory() as uow:
        await uow.imports.add(ImportedBatch(first, 102, 201, StockMode.ADD, at))
        await uow.imports.add(ImportedBatch(first, 2, 101, StockMode.ADD, at))
        await uow.imports.add(ImportedBatch(second, 2, 9, StockMode.SET, at))
        await uow.commit()
    async with uow_factory() as uow:
        await uow.imports.add(ImportedBatch(first, 202, 300, StockMode.ADD, at))  # not committed

    async with uow_factory() as uow:
        batches = await uow.imports.batches(first)
    assert [(b.first_line, b.last_line, b.mode, b.committed_at) for b in batches] == [
        (2, 101, StockMode.ADD, at),
        (102, 201, StockMode.ADD, at),
    ]

    async with uow_factory() as uow:
        await uow.imports.forget(first)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.imports.batches(first) == []
        assert [b.file_digest for b in await uow.imports.batches(second)] == [second]


async def test_orders_list_by_status(uow_factory: UowFactory) -> None:
    ann = await _store_user(uow_factory, "status@example.com")
    bob = await _store_user(uow_factory, "other@example.com")
    item_id = await _store(uow_factory)
    kept, shipped, cancelled = [await _stored_order(uow_factory, ann.id, item_id) for _ in range(3)]  # type: ignore[arg-type]
    bobs = await _stored_order(uow_factory, bob.id, item_id)  # type: ignore[arg-type]
    async with uow_factory() as uow:
        (await uow.orders.get_for_update(shipped.id)).ship()  # type: ignore[arg-type]
        to_cancel = await uow.orders.get_for_update(cancelled.id)  # type: ignore[arg-type]
        to_cancel.cancel(await uow.items.lock_by_ids(to_cancel.item_ids))
        await uow.commit()

    async with uow_factory() as uow:
        placed = await uow.orders.list(customer_id=None, status=OrderStatus.PLACED)
        anns_placed = await uow.orders.list(customer_id=ann.id, status=OrderStatus.PLACED)
        gone = await uow.orders.list(customer_id=ann.id, status=OrderStatus.CANCELLED, limit=5)
        none_shipped = await uow.orders.list(customer_id=bob.id, status=OrderStatus.SHIPPED)
    assert [order.id for order in placed] == [bobs.id, kept.id]
    assert [order.id for order in anns_placed] == [kept.id]
    assert [order.id for order in gone] == [cancelled.id]
    assert none_shipped == []


async def test_reads_list_items_lowest_stock_first_strictly_below(
    uow_factory: UowFactory, reads: AbstractReads
) -> None:
    ids = [await _store(uow_factory, quantity=quantity) for quantity in (7, 0, 3, 0, 12, 3)]

    everything = await reads.items_by_stock()
    below_3 = await reads.items_by_stock(below=3)
    below_4_first_2 = await reads.items_by_stock(below=4, limit=2)

    assert [(view.id, view.quantity) for view in everything] == [
        (ids[1], 0),
        (ids[3], 0),
        (ids[2], 3),
        (ids[5], 3),
        (ids[0], 7),
        (ids[4], 12),
    ]
    assert [view.id for view in below_3] == [ids[1], ids[3]]
    assert [view.id for view in below_4_first_2] == [ids[1], ids[3]]
    assert await reads.items_by_stock(below=0) == []
    assert everything[0] == await reads.item(ids[1])  # whole views, as every read returns them


async def test_items_added_as_rows_are_stored_and_clash_on_a_taken_sku(
    uow_factory: UowFactory,
) -> None:
    await _store(uow_factory, sku="TAKEN-1")
    rows = [
        CatalogRow(2, "ROW-1", "From a row", Decimal("1.25"), 7, "text", has_description=True),
        CatalogRow(3, "ROW-2", "No quantity", Decimal("0.00")),
    ]
    async with uow_factory() as uow:
        await uow.catalog_rows.add_rows(rows)  # not committed: nothing stays
    async with uow_factory() as uow:
        await uow.catalog_rows.add_rows(rows)
        await uow.commit()

    async with uow_factory() as uow:
        stored = {item.sku: item for item in await uow.items.lock_by_skus(["ROW-1", "ROW-2"])}
    assert {sku: (i.title, i.price, i.quantity, i.description) for sku, i in stored.items()} == {
        "ROW-1": ("From a row", Decimal("1.25"), 7, "text"),
        "ROW-2": ("No quantity", Decimal("0.00"), 0, None),
    }
    assert all(isinstance(item.id, int) for item in stored.values())

    async def add_a_taken_sku() -> None:
        # The database refuses at the INSERT, the fake at the commit: either way the unit
        # ends with the domain's error.
        async with uow_factory() as uow:
            await uow.catalog_rows.add_rows([CatalogRow(4, "TAKEN-1", "Clash", Decimal("1"))])
            await uow.commit()

    with pytest.raises(DuplicateSku):
        await add_a_taken_sku()


async def test_items_are_locked_and_updated_as_rows(uow_factory: UowFactory) -> None:
    first = await _store(uow_factory, sku="ROWS-B", title="B", price=Decimal("2.00"), quantity=2)
    second = await _store(uow_factory, sku="ROWS-A", title="A", price=Decimal("1.00"), quantity=1)
    await _store(uow_factory, sku="ROWS-OTHER")

    async with uow_factory() as uow:
        locked = await uow.catalog_rows.lock_rows_by_skus(["ROWS-A", "ROWS-B", "ROWS-MISSING"])
        # In id order, as lock_by_skus locks: the order path's lock order.
        assert [(item_id, row.sku, row.quantity) for item_id, row in locked] == [
            (first, "ROWS-B", 2),
            (second, "ROWS-A", 1),
        ]
        stored = dict(locked)
        changed = dataclasses.replace(
            stored[first], title="B2", price=Decimal("9.99"), quantity=20, description="new"
        )
        await uow.catalog_rows.update_rows({first: changed})
        await uow.commit()

    async with uow_factory() as uow:
        b, a = await uow.items.get(first), await uow.items.get(second)
    assert (b.title, b.price, b.quantity, b.description) == ("B2", Decimal("9.99"), 20, "new")
    assert (a.title, a.price, a.quantity) == ("A", Decimal("1.00"), 1)


async def test_a_batch_recorded_twice_is_refused(uow_factory: UowFactory) -> None:
    """Two runs of one file at the same time: the second to commit a batch learns it."""
    batch = ImportedBatch("c" * 64, 2, 101, StockMode.SET, datetime(2026, 11, 27, tzinfo=UTC))
    async with uow_factory() as uow:
        await uow.imports.add(batch)
        await uow.commit()

    async def record_it_again() -> None:
        async with uow_factory() as uow:
            await uow.imports.add(batch)
            await uow.commit()

    with pytest.raises(ImportBatchTaken):
        await record_it_again()
