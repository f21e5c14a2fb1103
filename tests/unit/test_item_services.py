"""Catalog use cases on the fake unit of work: one commit on success, nothing written on failure.

As in the container, every call gets a fresh ``FakeUnitOfWork`` over one shared store.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.errors import DuplicateSku, InvalidValue, StockLimitExceeded, UnknownItem
from domain.item import MAX_QUANTITY, SKU_PATTERN
from service_layer.services import items as services
from service_layer.services.items import MAX_PAGE_SIZE, UNSET, ItemChanges
from service_layer.unit_of_work import UnitOfWorkError
from service_layer.views import ItemView
from tests.factories import ItemFactory
from tests.fakes import FakeUnitOfWork, InMemoryReads, InMemoryStore
from tests.unit.support import item_id, new_item, seed, seed_one, snapshot

# --- add_item --------------------------------------------------------------------------------


async def test_add_item_commits_once_and_stores_the_item(store: InMemoryStore) -> None:
    command = new_item(sku=" ab-add-1 ", price=Decimal("19.9"), quantity=3)
    uow = FakeUnitOfWork(store)

    view = await services.add_item(uow, command)

    assert uow.commits == 1
    assert isinstance(view, ItemView)
    assert (view.sku, view.title, view.description) == (
        "AB-ADD-1",
        command.title,
        command.description,
    )
    assert (view.price, view.quantity) == (Decimal("19.90"), 3)
    assert snapshot(store) == {
        view.id: (view.sku, view.title, view.description, view.price, view.quantity)
    }


async def test_add_item_without_sku_generates_one(store: InMemoryStore) -> None:
    first = await services.add_item(FakeUnitOfWork(store), new_item(sku=None))
    second = await services.add_item(FakeUnitOfWork(store), new_item(sku=None))

    assert SKU_PATTERN.fullmatch(first.sku)
    assert first.sku != second.sku
    assert {item.sku for item in store.items.values()} == {first.sku, second.sku}


async def test_add_item_defaults_to_free_and_out_of_stock(store: InMemoryStore) -> None:
    view = await services.add_item(FakeUnitOfWork(store), services.NewItem(title="Just a title"))

    assert (view.price, view.quantity, view.description) == (Decimal("0"), 0, None)


async def test_added_items_get_distinct_ids(store: InMemoryStore) -> None:
    views = [await services.add_item(FakeUnitOfWork(store), new_item()) for _ in range(3)]

    assert len({view.id for view in views}) == 3
    assert set(store.items) == {view.id for view in views}


@pytest.mark.parametrize(
    "bad",
    [
        {"title": "  "},
        {"title": "t" * 201},
        {"sku": "not a sku"},
        {"description": "d" * 2001},
        {"price": Decimal("-1")},
        {"price": Decimal("1.234")},
        {"price": Decimal("NaN")},
        {"quantity": -1},
        {"quantity": MAX_QUANTITY + 1},
    ],
)
async def test_add_item_with_an_invalid_value_writes_nothing(
    store: InMemoryStore, bad: dict[str, Any]
) -> None:
    await seed(store, 2)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(InvalidValue):
        await services.add_item(uow, new_item(**bad))

    assert uow.commits == 0
    assert snapshot(store) == before


async def test_add_item_with_a_taken_sku_names_it_and_writes_nothing(
    store: InMemoryStore,
) -> None:
    existing = await seed_one(store, sku="DUP-1")
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(DuplicateSku) as raised:
        await services.add_item(uow, new_item(sku="  dup-1 "))

    assert raised.value.sku == "DUP-1"
    assert "DUP-1" in str(raised.value)
    assert uow.commits == 0
    assert snapshot(store) == before
    assert store.items[item_id(existing)].title == existing.title


class UnnamedConflictUnitOfWork(FakeUnitOfWork):
    """Reports a SKU clash the way the database does: a constraint failed, no SKU given."""

    async def _commit(self) -> None:
        try:
            await super()._commit()
        except DuplicateSku:
            raise DuplicateSku() from None


async def test_add_item_names_a_sku_clash_that_storage_reports_unnamed(
    store: InMemoryStore,
) -> None:
    await seed_one(store, sku="CLASH-1")
    before = snapshot(store)
    uow = UnnamedConflictUnitOfWork(store)

    with pytest.raises(DuplicateSku) as raised:
        await services.add_item(uow, new_item(sku="clash-1"))

    assert raised.value.sku == "CLASH-1"
    assert uow.commits == 0
    assert snapshot(store) == before


async def test_update_item_names_a_sku_clash_that_storage_reports_unnamed(
    store: InMemoryStore,
) -> None:
    await seed_one(store, sku="CLASH-2")
    other = await seed_one(store, sku="OTHER-2")
    before = snapshot(store)
    uow = UnnamedConflictUnitOfWork(store)

    with pytest.raises(DuplicateSku) as raised:
        await services.update_item(uow, item_id(other), ItemChanges(sku="clash-2"))

    assert raised.value.sku == "CLASH-2"
    assert uow.commits == 0
    assert snapshot(store) == before


# --- get_item / list_items -------------------------------------------------------------------


async def test_get_item_returns_a_view_of_the_stored_item(store: InMemoryStore) -> None:
    item = await seed_one(store)
    before = snapshot(store)

    view = await services.get_item(InMemoryReads(store), item_id(item))

    assert view == ItemView(
        id=item_id(item),
        sku=item.sku,
        title=item.title,
        description=item.description,
        price=item.price,
        quantity=item.quantity,
    )
    assert snapshot(store) == before


async def test_get_unknown_item_raises_unknown_item(store: InMemoryStore) -> None:
    await seed(store, 2)

    with pytest.raises(UnknownItem) as raised:
        await services.get_item(InMemoryReads(store), 999)

    assert raised.value.item_id == 999


async def test_list_items_returns_all_items_in_id_order(store: InMemoryStore) -> None:
    items = await seed(store, 5)

    views = (await services.list_items(InMemoryReads(store))).rows

    assert [view.id for view in views] == [item_id(item) for item in items]
    assert [view.sku for view in views] == [item.sku for item in items]


async def test_list_items_of_an_empty_catalog_is_empty(store: InMemoryStore) -> None:
    assert (await services.list_items(InMemoryReads(store))).rows == []


@pytest.mark.parametrize(
    ("skip", "limit", "expected"),
    [
        (0, 2, slice(0, 2)),
        (2, 2, slice(2, 4)),
        (4, 10, slice(4, 6)),
        (6, 10, slice(6, 6)),
        (50, 10, slice(6, 6)),
        (-3, 2, slice(0, 2)),  # a negative offset means the start, not the end
        (0, 0, slice(0, 0)),
        (0, -1, slice(0, 0)),
    ],
)
async def test_list_items_pages_with_skip_and_limit(
    store: InMemoryStore, skip: int, limit: int, expected: slice
) -> None:
    ids = [item_id(item) for item in await seed(store, 6)]

    views = (await services.list_items(InMemoryReads(store), skip=skip, limit=limit)).rows

    assert [view.id for view in views] == ids[expected]


async def test_list_items_caps_the_page_at_the_maximum_size(store: InMemoryStore) -> None:
    ids = [item_id(item) for item in await seed(store, MAX_PAGE_SIZE + 5)]

    views = (await services.list_items(InMemoryReads(store), limit=MAX_PAGE_SIZE * 10)).rows
    default = (await services.list_items(InMemoryReads(store))).rows

    assert [view.id for view in views] == ids[:MAX_PAGE_SIZE]
    assert [view.id for view in default] == ids[:MAX_PAGE_SIZE]


# --- update_item -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        (ItemChanges(sku=" new-sku-1 "), "sku", "NEW-SKU-1"),
        (ItemChanges(title="  Renamed "), "title", "Renamed"),
        (ItemChanges(description="Now described"), "description", "Now described"),
        (ItemChanges(description=None), "description", None),
        (ItemChanges(price=Decimal("7.5")), "price", Decimal("7.50")),
        (ItemChanges(quantity=0), "quantity", 0),
        (ItemChanges(quantity=MAX_QUANTITY), "quantity", MAX_QUANTITY),
    ],
)
async def test_update_item_changes_only_the_fields_it_is_given(
    store: InMemoryStore, changes: ItemChanges, field: str, expected: object
) -> None:
    item = await seed_one(store, description="Described", quantity=5)
    untouched = await seed_one(store)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    view = await services.update_item(uow, item_id(item), changes)

    assert uow.commits == 1
    assert getattr(view, field) == expected
    stored = store.items[item_id(item)]
    assert getattr(stored, field) == expected
    fields = ("sku", "title", "description", "price", "quantity")
    others = [name for name in fields if name != field]
    assert [getattr(stored, name) for name in others] == [getattr(item, name) for name in others]
    assert snapshot(store)[item_id(untouched)] == before[item_id(untouched)]


async def test_update_item_with_no_changes_leaves_the_item_as_it_was(
    store: InMemoryStore,
) -> None:
    item = await seed_one(store)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    view = await services.update_item(uow, item_id(item), ItemChanges())

    assert uow.commits == 1
    assert snapshot(store) == before
    assert (view.sku, view.title, view.description, view.price, view.quantity) == before[view.id]


async def test_unset_description_is_not_the_same_as_none(store: InMemoryStore) -> None:
    item = await seed_one(store, description="Keep me")

    await services.update_item(FakeUnitOfWork(store), item_id(item), ItemChanges(title="New"))
    assert store.items[item_id(item)].description == "Keep me"

    await services.update_item(FakeUnitOfWork(store), item_id(item), ItemChanges(description=None))
    assert store.items[item_id(item)].description is None
    assert ItemChanges().description is UNSET


async def test_update_item_can_change_every_field_at_once(store: InMemoryStore) -> None:
    item = await seed_one(store)
    changes = ItemChanges(
        sku="all-new", title="All new", description=None, price=Decimal("1"), quantity=9
    )

    view = await services.update_item(FakeUnitOfWork(store), item_id(item), changes)

    expected = ("ALL-NEW", "All new", None, Decimal("1.00"), 9)
    assert (view.sku, view.title, view.description, view.price, view.quantity) == expected
    assert snapshot(store)[item_id(item)] == expected


async def test_update_item_may_keep_its_own_sku(store: InMemoryStore) -> None:
    item = await seed_one(store, sku="MINE-1")
    uow = FakeUnitOfWork(store)

    view = await services.update_item(uow, item_id(item), ItemChanges(sku="mine-1"))

    assert uow.commits == 1
    assert view.sku == "MINE-1"


async def test_update_unknown_item_raises_and_writes_nothing(store: InMemoryStore) -> None:
    await seed(store, 2)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(UnknownItem):
        await services.update_item(uow, 999, ItemChanges(title="Ghost"))

    assert uow.commits == 0
    assert snapshot(store) == before


@pytest.mark.parametrize(
    "changes",
    [
        ItemChanges(title=" "),
        ItemChanges(sku="bad sku"),
        ItemChanges(description="d" * 2001),
        ItemChanges(price=Decimal("-0.01")),
        ItemChanges(price=Decimal("0.001")),
        ItemChanges(quantity=-1),
        # A valid change followed by an invalid one: the valid one must not be written either.
        ItemChanges(sku="fine-sku", title="Fine", price=Decimal("1.005")),
        ItemChanges(title="Fine", quantity=MAX_QUANTITY + 1),
    ],
)
async def test_update_item_with_an_invalid_value_writes_nothing(
    store: InMemoryStore, changes: ItemChanges
) -> None:
    item = await seed_one(store)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(InvalidValue):
        await services.update_item(uow, item_id(item), changes)

    assert uow.commits == 0
    assert snapshot(store) == before


async def test_update_item_to_a_taken_sku_names_it_and_writes_nothing(
    store: InMemoryStore,
) -> None:
    await seed_one(store, sku="TAKEN-1")
    item = await seed_one(store, sku="FREE-1")
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(DuplicateSku) as raised:
        await services.update_item(uow, item_id(item), ItemChanges(sku=" taken-1", title="New"))

    assert raised.value.sku == "TAKEN-1"
    assert "TAKEN-1" in str(raised.value)
    assert uow.commits == 0
    assert snapshot(store) == before


# --- delete_item -----------------------------------------------------------------------------


async def test_delete_item_removes_only_that_item(store: InMemoryStore) -> None:
    doomed, kept = await seed(store, 2)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    await services.delete_item(uow, item_id(doomed))

    assert uow.commits == 1
    assert snapshot(store) == {item_id(kept): before[item_id(kept)]}
    with pytest.raises(UnknownItem):
        await services.get_item(InMemoryReads(store), item_id(doomed))


async def test_delete_unknown_item_raises_and_writes_nothing(store: InMemoryStore) -> None:
    await seed(store, 2)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(UnknownItem):
        await services.delete_item(uow, 999)

    assert uow.commits == 0
    assert snapshot(store) == before


async def test_a_deleted_items_sku_can_be_used_again(store: InMemoryStore) -> None:
    item = await seed_one(store, sku="REUSE-1")
    await services.delete_item(FakeUnitOfWork(store), item_id(item))

    view = await services.add_item(FakeUnitOfWork(store), new_item(sku="reuse-1"))

    assert view.sku == "REUSE-1"
    assert view.id != item_id(item)


# --- restock ---------------------------------------------------------------------------------


async def test_restock_adds_to_stock_and_commits_once(store: InMemoryStore) -> None:
    item = await seed_one(store, quantity=4)
    uow = FakeUnitOfWork(store)

    view = await services.restock(uow, item_id(item), 6)

    assert uow.commits == 1
    assert view.quantity == 10
    assert store.items[item_id(item)].quantity == 10


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
async def test_restock_with_a_non_positive_or_non_integer_amount_writes_nothing(
    store: InMemoryStore, bad: Any
) -> None:
    item = await seed_one(store, quantity=4)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(InvalidValue):
        await services.restock(uow, item_id(item), bad)

    assert uow.commits == 0
    assert snapshot(store) == before


async def test_restock_past_the_maximum_stock_writes_nothing(store: InMemoryStore) -> None:
    item = await seed_one(store, quantity=MAX_QUANTITY - 1)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(StockLimitExceeded):
        await services.restock(uow, item_id(item), 2)

    assert uow.commits == 0
    assert snapshot(store) == before


async def test_restock_unknown_item_raises_and_writes_nothing(store: InMemoryStore) -> None:
    await seed(store, 1)
    before = snapshot(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(UnknownItem):
        await services.restock(uow, 999, 5)

    assert uow.commits == 0
    assert snapshot(store) == before


# --- the FakeUnitOfWork contract -------------------------------------------------------------


async def test_nested_entry_of_an_open_unit_is_refused(store: InMemoryStore) -> None:
    uow = FakeUnitOfWork(store)
    async with uow:
        with pytest.raises(UnitOfWorkError):
            async with uow:
                pytest.fail("the nested block must not run")
        # The outer unit is still open and usable after the refused nesting.
        await uow.items.add(ItemFactory(sku="OUTER-1"))
        await uow.commit()

    assert [item.sku for item in store.items.values()] == ["OUTER-1"]


async def test_commit_outside_a_block_is_refused(store: InMemoryStore) -> None:
    uow = FakeUnitOfWork(store)
    with pytest.raises(UnitOfWorkError):
        await uow.commit()

    async with uow:
        await uow.items.add(ItemFactory())
    with pytest.raises(UnitOfWorkError):
        await uow.commit()

    assert uow.commits == 0
    assert store.items == {}


async def test_a_closed_unit_may_be_entered_again_for_a_new_transaction(
    store: InMemoryStore,
) -> None:
    uow = FakeUnitOfWork(store)
    async with uow:
        await uow.items.add(ItemFactory(sku="FIRST-1"))
        await uow.commit()
    async with uow:
        await uow.items.add(ItemFactory(sku="SECOND-1"))
        await uow.commit()

    assert uow.commits == 2
    assert sorted(item.sku for item in store.items.values()) == ["FIRST-1", "SECOND-1"]


async def test_uncommitted_changes_are_invisible_to_the_next_unit(store: InMemoryStore) -> None:
    existing = await seed_one(store, quantity=3, title="Original")
    async with FakeUnitOfWork(store) as uow:
        await uow.items.add(ItemFactory(sku="NEVER-1"))
        found = await uow.items.get(item_id(existing))
        found.restock(10)
        found.rename("Changed")
        await uow.items.delete(await uow.items.get(item_id(existing)))

    async with FakeUnitOfWork(store) as uow:
        listed = await uow.items.list()
        again = await uow.items.get(item_id(existing))

    assert [item.sku for item in listed] == [existing.sku]
    assert (again.title, again.quantity) == ("Original", 3)


async def test_changes_are_invisible_to_another_open_unit_until_committed(
    store: InMemoryStore,
) -> None:
    item = await seed_one(store, quantity=3)
    async with FakeUnitOfWork(store) as writer:
        (await writer.items.get(item_id(item))).restock(4)
        async with FakeUnitOfWork(store) as reader:
            assert (await reader.items.get(item_id(item))).quantity == 3
        await writer.commit()

    async with FakeUnitOfWork(store) as reader:
        assert (await reader.items.get(item_id(item))).quantity == 7


async def test_leaving_through_an_exception_discards_the_work(store: InMemoryStore) -> None:
    uow = FakeUnitOfWork(store)

    async def add_then_fail() -> None:
        async with uow:
            await uow.items.add(ItemFactory())
            raise LookupError("boom")

    with pytest.raises(LookupError):
        await add_then_fail()

    assert uow.commits == 0
    assert store.items == {}


async def test_commit_refuses_duplicate_skus_and_publishes_nothing(store: InMemoryStore) -> None:
    await seed_one(store, sku="TWICE-1")
    before = snapshot(store)
    uow = FakeUnitOfWork(store)
    async with uow:
        await uow.items.add(ItemFactory(sku="OTHER-1"))
        await uow.items.add(ItemFactory(sku="twice-1"))
        with pytest.raises(DuplicateSku):
            await uow.commit()

    assert uow.commits == 0
    assert snapshot(store) == before
