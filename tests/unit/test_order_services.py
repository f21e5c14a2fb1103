"""Order use cases on the fake unit of work: one commit on success; on failure no commit and
the whole store (items, orders, idempotency keys) exactly as it was.

As in the container, every call gets a fresh ``FakeUnitOfWork`` over one shared store.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest

from domain.errors import (
    IdempotencyKeyReused,
    IllegalTransition,
    InvalidValue,
    ItemHasOrders,
    OutOfStock,
    StockLimitExceeded,
    UnknownItem,
    UnknownOrder,
    UnknownSku,
)
from domain.idempotency import KEY_MAX_LENGTH, IdempotencyRecord
from domain.item import MAX_QUANTITY, Item
from domain.order import MAX_LINE_QUANTITY, LineRequest, Order, OrderLine, OrderStatus
from service_layer.actor import Actor
from service_layer.services import items as item_services
from service_layer.services import orders as services
from service_layer.services.items import ItemChanges
from service_layer.services.orders import MAX_PAGE_SIZE
from service_layer.views import OrderLineView, OrderView
from tests.fakes import FakeUnitOfWork, InMemoryReads
from tests.fakes.repositories import (
    InMemoryIdempotencyRepository,
    InMemoryItemRepository,
    InMemoryStore,
)
from tests.unit.order_support import add_user, counter, lines, shelf, state, stock
from tests.unit.support import item_id

REPLAYS = "stockroom_idempotent_replays_total"


async def place(
    store: InMemoryStore, actor: Actor, *wanted: tuple[str, int], key: str | None = None
) -> OrderView:
    return await services.place_order(
        FakeUnitOfWork(store), actor, lines(*wanted), idempotency_key=key
    )


# --- place_order -----------------------------------------------------------------------------


async def test_place_order_takes_stock_records_the_order_and_commits_once(
    store: InMemoryStore,
) -> None:
    apple, pear, _ = await shelf(store, ("APPLE", 5, "0.50"), ("PEAR", 4, "1.25"), ("FIG", 3, "2"))
    alice = await add_user(store)
    uow = FakeUnitOfWork(store)

    view = await services.place_order(uow, alice, lines(("pear", 3), ("apple", 2)))

    assert uow.commits == 1
    assert view.customer_id == alice.user_id
    assert view.status is OrderStatus.PLACED
    assert view.lines == (
        OrderLineView(item_id(apple), "APPLE", 2, Decimal("0.50"), Decimal("1.00")),
        OrderLineView(item_id(pear), "PEAR", 3, Decimal("1.25"), Decimal("3.75")),
    )
    assert view.total == Decimal("4.75")
    assert stock(store) == {"APPLE": 3, "PEAR": 1, "FIG": 3}
    assert set(store.orders) == {view.id}
    assert OrderView.from_domain(store.orders[view.id]) == view


async def test_place_order_reports_the_stock_each_item_has_left_after_the_sale(
    store: InMemoryStore,
) -> None:
    apple, pear, _ = await shelf(store, ("APPLE", 5, "1"), ("PEAR", 4, "1"), ("FIG", 3, "1"))
    alice = await add_user(store)

    view = await place(store, alice, ("pear", 4), ("apple", 1), key="sale-1")
    replay = await place(store, alice, ("pear", 4), ("apple", 1), key="sale-1")

    assert view.stock_left == ((item_id(apple), 4), (item_id(pear), 0))
    assert replay == view
    assert replay.stock_left == ()  # a replay took nothing, so it reports nothing


async def test_place_order_merges_repeated_skus_into_one_line(store: InMemoryStore) -> None:
    await shelf(store, ("APPLE", 5, "1.00"))
    alice = await add_user(store)

    view = await place(store, alice, ("apple", 1), (" APPLE ", 2))

    assert [(line.sku, line.quantity) for line in view.lines] == [("APPLE", 3)]
    assert stock(store) == {"APPLE": 2}


async def test_orders_get_distinct_ids_and_their_lines_distinct_line_ids(
    store: InMemoryStore,
) -> None:
    await shelf(store, ("A-1", 9, "1"), ("B-1", 9, "1"))
    alice = await add_user(store)

    first = await place(store, alice, ("A-1", 1), ("B-1", 1))
    second = await place(store, alice, ("A-1", 1), ("B-1", 1))

    assert first.id != second.id
    line_ids = [line.id for order in store.orders.values() for line in order.lines]
    assert None not in line_ids
    assert len(set(line_ids)) == 4


async def test_place_order_never_sells_more_than_the_shelf_holds(store: InMemoryStore) -> None:
    await shelf(store, ("LAST-1", 5, "1.00"))
    alice, bob = await add_user(store), await add_user(store)

    await place(store, alice, ("LAST-1", 2))
    await place(store, bob, ("LAST-1", 2))
    before = state(store)
    uow = FakeUnitOfWork(store)
    with pytest.raises(OutOfStock) as raised:
        await services.place_order(uow, alice, lines(("LAST-1", 2)))

    assert raised.value.skus == ["LAST-1"]
    assert uow.commits == 0
    assert state(store) == before
    await place(store, bob, ("LAST-1", 1))
    assert stock(store) == {"LAST-1": 0}


async def test_a_multi_line_order_with_one_short_line_takes_no_stock_at_all(
    store: InMemoryStore,
) -> None:
    await shelf(store, ("A-1", 5, "1"), ("B-1", 1, "1"), ("C-1", 5, "1"), ("D-1", 0, "1"))
    alice = await add_user(store)
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(OutOfStock) as raised:
        await services.place_order(
            uow, alice, lines(("A-1", 5), ("d-1", 1), ("B-1", 2), ("C-1", 1))
        )

    assert raised.value.skus == ["B-1", "D-1"]
    assert uow.commits == 0
    assert state(store) == before


async def test_unknown_skus_are_named_and_nothing_is_written(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 0, "1"))
    alice = await add_user(store)
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(UnknownSku) as raised:
        await services.place_order(uow, alice, lines(("A-1", 1), ("ghost-1", 1)))

    assert raised.value.skus == ["GHOST-1"]
    assert uow.commits == 0
    assert state(store) == before


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [LineRequest("A-1", 0)],
        [LineRequest("A-1", -2)],
        [LineRequest("A-1", True)],
        [LineRequest("A-1", 1.5)],  # type: ignore[arg-type]
        [LineRequest("A-1", MAX_LINE_QUANTITY + 1)],
        [LineRequest("not a sku", 1)],
    ],
)
async def test_place_order_with_invalid_lines_writes_nothing(
    store: InMemoryStore, bad: list[LineRequest]
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(InvalidValue):
        await services.place_order(uow, alice, bad, idempotency_key="k-invalid")

    assert uow.commits == 0
    assert state(store) == before


async def test_later_repricing_does_not_change_a_placed_order(store: InMemoryStore) -> None:
    (apple,) = await shelf(store, ("APPLE", 5, "2.00"))
    alice = await add_user(store)
    placed = await place(store, alice, ("APPLE", 2))

    await item_services.update_item(
        FakeUnitOfWork(store), item_id(apple), ItemChanges(price=Decimal("9.99"))
    )
    read = await services.get_order(FakeUnitOfWork(store), alice, placed.id)

    assert read.lines[0].unit_price == Decimal("2.00")
    assert read.total == Decimal("4.00")
    assert read == placed


# --- idempotency -----------------------------------------------------------------------------


async def test_same_key_and_body_returns_the_first_order_without_taking_stock_again(
    store: InMemoryStore,
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    first = await place(store, alice, ("A-1", 2), key="key-1")
    before = state(store)
    replays = counter(REPLAYS)
    uow = FakeUnitOfWork(store)

    again = await services.place_order(uow, alice, lines(("A-1", 2)), idempotency_key="key-1")

    assert again == first
    assert uow.commits == 0
    assert state(store) == before
    assert stock(store) == {"A-1": 3}
    assert counter(REPLAYS) == replays + 1


@pytest.mark.parametrize(
    "equivalent",
    [
        [("b-1", 1), ("a-1", 2)],
        [("A-1", 1), ("B-1", 1), ("a-1", 1)],
        [(" a-1 ", 2), ("b-1", 1)],
    ],
    ids=["other order", "repeats merged", "unnormalised"],
)
async def test_an_equivalent_body_counts_as_the_same_request(
    store: InMemoryStore, equivalent: list[tuple[str, int]]
) -> None:
    await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    alice = await add_user(store)
    first = await place(store, alice, ("A-1", 2), ("B-1", 1), key="key-eq")
    before = state(store)

    again = await place(store, alice, *equivalent, key="key-eq")

    assert again.id == first.id
    assert state(store) == before


@pytest.mark.parametrize(
    "different",
    [[("A-1", 3)], [("A-1", 2), ("B-1", 1)], [("B-1", 2)]],
    ids=["quantity", "extra line", "sku"],
)
async def test_same_key_with_a_different_body_is_refused_and_writes_nothing(
    store: InMemoryStore, different: list[tuple[str, int]]
) -> None:
    await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    alice = await add_user(store)
    await place(store, alice, ("A-1", 2), key="key-diff")
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(IdempotencyKeyReused):
        await services.place_order(uow, alice, lines(*different), idempotency_key="key-diff")

    assert uow.commits == 0
    assert state(store) == before


async def test_keys_belong_to_one_customer(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice, bob = await add_user(store), await add_user(store)
    hers = await place(store, alice, ("A-1", 2), key="shared-key")

    his = await place(store, bob, ("A-1", 2), key="shared-key")

    assert his.id != hers.id
    assert his.customer_id == bob.user_id
    assert stock(store) == {"A-1": 1}
    assert set(store.idempotency) == {
        (alice.user_id, "shared-key"),
        (bob.user_id, "shared-key"),
    }


async def test_different_keys_or_no_key_place_new_orders(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 9, "1"))
    alice = await add_user(store)

    ids = {
        (await place(store, alice, ("A-1", 1), key="k-1")).id,
        (await place(store, alice, ("A-1", 1), key="k-2")).id,
        (await place(store, alice, ("A-1", 1))).id,
        (await place(store, alice, ("A-1", 1))).id,
    }

    assert len(ids) == 4
    assert stock(store) == {"A-1": 5}
    assert len(store.idempotency) == 2


async def test_the_key_is_stored_with_the_order_it_answers(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)

    view = await place(store, alice, ("A-1", 1), key="k-stored")

    record = store.idempotency[(alice.user_id, "k-stored")]
    assert (record.customer_id, record.key, record.order_id) == (alice.user_id, "k-stored", view.id)


async def test_a_failed_order_does_not_use_up_its_key(store: InMemoryStore) -> None:
    (item,) = await shelf(store, ("A-1", 1, "1"))
    alice = await add_user(store)
    with pytest.raises(OutOfStock):
        await place(store, alice, ("A-1", 2), key="k-retry")
    assert store.idempotency == {}

    await item_services.restock(FakeUnitOfWork(store), item_id(item), 1)
    view = await place(store, alice, ("A-1", 2), key="k-retry")

    assert view.status is OrderStatus.PLACED
    assert stock(store) == {"A-1": 0}


async def test_a_replay_after_cancelling_returns_the_cancelled_order(
    store: InMemoryStore,
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    first = await place(store, alice, ("A-1", 2), key="k-cancel")
    await services.cancel_order(FakeUnitOfWork(store), alice, first.id)
    before = state(store)

    again = await place(store, alice, ("A-1", 2), key="k-cancel")

    assert again.id == first.id
    assert again.status is OrderStatus.CANCELLED
    assert state(store) == before
    assert stock(store) == {"A-1": 5}


async def test_a_replay_answers_even_when_the_stock_has_run_out_since(
    store: InMemoryStore,
) -> None:
    await shelf(store, ("LAST-1", 2, "1"))
    alice = await add_user(store)
    first = await place(store, alice, ("LAST-1", 2), key="k-sold-out")
    before = state(store)

    again = await place(store, alice, ("LAST-1", 2), key="k-sold-out")

    assert again == first
    assert state(store) == before


async def test_a_replay_answers_even_after_the_items_sku_changed(store: InMemoryStore) -> None:
    (item,) = await shelf(store, ("OLD-1", 5, "1"))
    alice = await add_user(store)
    first = await place(store, alice, ("OLD-1", 2), key="k-renamed")
    await item_services.update_item(FakeUnitOfWork(store), item_id(item), ItemChanges(sku="NEW-1"))
    before = state(store)

    again = await place(store, alice, ("OLD-1", 2), key="k-renamed")

    assert again == first
    assert state(store) == before


@pytest.mark.parametrize(
    "key", ["", "k" * (KEY_MAX_LENGTH + 1), "tab\there", "new\nline", "nul\x00"]
)
async def test_an_invalid_key_is_refused_and_writes_nothing(store: InMemoryStore, key: str) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(InvalidValue) as raised:
        await services.place_order(uow, alice, lines(("A-1", 1)), idempotency_key=key)

    assert raised.value.field == "key"
    assert uow.commits == 0
    assert state(store) == before


async def test_a_key_of_the_maximum_length_is_accepted(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    key = "k" * KEY_MAX_LENGTH

    first = await place(store, alice, ("A-1", 1), key=key)
    again = await place(store, alice, ("A-1", 1), key=key)

    assert again.id == first.id
    assert stock(store) == {"A-1": 4}


async def test_a_twin_that_committed_the_key_first_is_answered_with_its_order(
    store: InMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests with one key race: both look the key up and miss, the twin commits first,
    and ours then fails on the key's unique constraint (``IdempotencyKeyTaken``). Ours must
    roll back and answer with the twin's order, having taken nothing."""
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    original = InMemoryIdempotencyRepository.get
    twins: list[OrderView] = []
    raced = False

    async def lookup(
        self: InMemoryIdempotencyRepository, customer_id: int, key: str
    ) -> IdempotencyRecord | None:
        nonlocal raced
        found = await original(self, customer_id, key)
        if not raced:
            raced = True  # the twin commits right after our lookup missed
            twins.append(await place(store, alice, ("A-1", 2), key="race-key"))
        return found

    monkeypatch.setattr(InMemoryIdempotencyRepository, "get", lookup)
    replays = counter(REPLAYS)
    uow = FakeUnitOfWork(store)

    ours = await services.place_order(uow, alice, lines(("a-1", 2)), idempotency_key="race-key")

    (twin,) = twins
    assert ours == twin
    assert uow.commits == 0
    assert list(store.orders) == [twin.id]
    assert stock(store) == {"A-1": 3}
    assert counter(REPLAYS) == replays + 1


async def test_a_twin_with_a_different_body_that_committed_the_key_first_is_a_reused_key(
    store: InMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    original = InMemoryIdempotencyRepository.get
    raced = False

    async def lookup(
        self: InMemoryIdempotencyRepository, customer_id: int, key: str
    ) -> IdempotencyRecord | None:
        nonlocal raced
        found = await original(self, customer_id, key)
        if not raced:
            raced = True
            await place(store, alice, ("A-1", 1), key="race-key")
        return found

    monkeypatch.setattr(InMemoryIdempotencyRepository, "get", lookup)
    uow = FakeUnitOfWork(store)

    with pytest.raises(IdempotencyKeyReused):
        await services.place_order(uow, alice, lines(("A-1", 2)), idempotency_key="race-key")

    assert uow.commits == 0
    assert len(store.orders) == 1
    assert stock(store) == {"A-1": 4}


async def test_a_twin_that_bought_the_last_unit_first_is_answered_with_its_order(
    store: InMemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client retries a purchase of the last unit while its first attempt is in flight.

    On PostgreSQL (READ COMMITTED) a key lookup made before the retry's ``SELECT ... FOR
    UPDATE`` misses (the first attempt has not committed); the lock then waits for the first
    attempt and shows the shelf it left: empty. The retry must answer with the first order,
    not 409 out of stock (regression: the key was once looked up before the lock).

    Modelled here: the twin has committed (so the locked rows show its stock), but a lookup
    made before our lock is granted cannot see its key yet.
    """
    await shelf(store, ("LAST-1", 1, "1"))
    alice = await add_user(store)
    twin = await place(store, alice, ("LAST-1", 1), key="retry-key")
    original_get = InMemoryIdempotencyRepository.get
    original_lock = InMemoryItemRepository.lock_by_skus
    locked = False

    async def lookup(
        self: InMemoryIdempotencyRepository, customer_id: int, key: str
    ) -> IdempotencyRecord | None:
        return await original_get(self, customer_id, key) if locked else None

    async def lock(self: InMemoryItemRepository, skus: Sequence[str]) -> Sequence[Item]:
        nonlocal locked
        locked = True  # the twin committed while we waited for the row lock
        return await original_lock(self, skus)

    monkeypatch.setattr(InMemoryIdempotencyRepository, "get", lookup)
    monkeypatch.setattr(InMemoryItemRepository, "lock_by_skus", lock)
    before = state(store)

    ours = await place(store, alice, ("LAST-1", 1), key="retry-key")

    assert ours == twin
    assert state(store) == before


# --- get_order -------------------------------------------------------------------------------


async def test_the_owner_reads_an_order_without_a_commit(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 2))
    before = state(store)
    uow = FakeUnitOfWork(store)

    read = await services.get_order(uow, alice, placed.id)

    assert read == placed
    assert uow.commits == 0
    assert state(store) == before


async def test_another_customers_order_is_reported_as_unknown(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice, bob = await add_user(store), await add_user(store)
    hers = await place(store, alice, ("A-1", 2))

    with pytest.raises(UnknownOrder) as raised:
        await services.get_order(FakeUnitOfWork(store), bob, hers.id)

    assert raised.value.order_id == hers.id
    assert str(raised.value) == f"order {hers.id} does not exist"


async def test_an_admin_reads_anyones_order(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice, admin = await add_user(store), await add_user(store, admin=True)
    hers = await place(store, alice, ("A-1", 2))

    assert await services.get_order(FakeUnitOfWork(store), admin, hers.id) == hers


async def test_an_unknown_order_is_unknown_even_to_an_admin(store: InMemoryStore) -> None:
    admin = await add_user(store, admin=True)

    with pytest.raises(UnknownOrder) as raised:
        await services.get_order(FakeUnitOfWork(store), admin, 999)

    assert raised.value.order_id == 999


# --- list_orders -----------------------------------------------------------------------------


async def test_a_customer_lists_only_their_own_orders_newest_first(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 50, "1"))
    alice, bob = await add_user(store), await add_user(store)
    placed = [await place(store, who, ("A-1", 1)) for who in (alice, bob, alice, bob, alice)]
    uow = FakeUnitOfWork(store)

    hers = (await services.list_orders(uow, alice)).rows
    his = (await services.list_orders(FakeUnitOfWork(store), bob)).rows

    assert [view.id for view in hers] == [placed[4].id, placed[2].id, placed[0].id]
    assert [view.id for view in his] == [placed[3].id, placed[1].id]
    assert hers[0] == placed[4]
    assert uow.commits == 0


async def test_an_admin_lists_everyones_orders_newest_first(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 50, "1"))
    alice, bob = await add_user(store), await add_user(store)
    admin = await add_user(store, admin=True)
    placed = [await place(store, who, ("A-1", 1)) for who in (alice, bob, alice)]

    listed = (await services.list_orders(FakeUnitOfWork(store), admin)).rows

    assert [view.id for view in listed] == [view.id for view in reversed(placed)]


async def test_a_customer_without_orders_lists_nothing(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 50, "1"))
    alice, bob = await add_user(store), await add_user(store)
    await place(store, alice, ("A-1", 1))

    assert (await services.list_orders(FakeUnitOfWork(store), bob)).rows == []


async def _orders(store: InMemoryStore, actor: Actor, count: int) -> list[int]:
    """``count`` orders for ``actor`` committed in one unit; their ids, newest first."""
    (item,) = await shelf(store, ("BULK-1", 0, "1"))
    uow = FakeUnitOfWork(store)
    async with uow:
        made = [
            Order(actor.user_id, [OrderLine(item_id(item), item.sku, 1, item.price)])
            for _ in range(count)
        ]
        for order in made:
            await uow.orders.add(order)
        await uow.commit()
    return sorted((order.id for order in made if order.id is not None), reverse=True)


@pytest.mark.parametrize(
    ("skip", "limit", "expected"),
    [
        (0, 2, slice(0, 2)),
        (2, 2, slice(2, 4)),
        (4, 10, slice(4, 6)),
        (6, 10, slice(6, 6)),
        (-3, 2, slice(0, 2)),
        (0, 0, slice(0, 0)),
        (0, -1, slice(0, 0)),
    ],
)
async def test_list_orders_pages_with_skip_and_limit(
    store: InMemoryStore, skip: int, limit: int, expected: slice
) -> None:
    alice = await add_user(store)
    newest_first = await _orders(store, alice, 6)

    page = await services.list_orders(FakeUnitOfWork(store), alice, skip=skip, limit=limit)
    listed = page.rows

    assert [view.id for view in listed] == newest_first[expected]


async def test_list_orders_caps_the_page_at_the_maximum_size(store: InMemoryStore) -> None:
    admin = await add_user(store, admin=True)
    newest_first = await _orders(store, admin, MAX_PAGE_SIZE + 3)

    capped = (
        await services.list_orders(FakeUnitOfWork(store), admin, limit=MAX_PAGE_SIZE * 10)
    ).rows
    default = (await services.list_orders(FakeUnitOfWork(store), admin)).rows

    assert [view.id for view in capped] == newest_first[:MAX_PAGE_SIZE]
    assert [view.id for view in default] == newest_first[:MAX_PAGE_SIZE]


# --- cancel_order ----------------------------------------------------------------------------


async def test_the_owner_cancels_and_the_stock_goes_back(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 2), ("B-1", 5))
    uow = FakeUnitOfWork(store)

    view = await services.cancel_order(uow, alice, placed.id)

    assert uow.commits == 1
    assert view.status is OrderStatus.CANCELLED
    assert (view.id, view.lines, view.total) == (placed.id, placed.lines, placed.total)
    assert view.updated_at >= placed.updated_at
    assert stock(store) == {"A-1": 5, "B-1": 5}
    assert store.orders[placed.id].status is OrderStatus.CANCELLED


async def test_an_admin_cancels_anyones_order(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice, admin = await add_user(store), await add_user(store, admin=True)
    hers = await place(store, alice, ("A-1", 3))
    uow = FakeUnitOfWork(store)

    view = await services.cancel_order(uow, admin, hers.id)

    assert uow.commits == 1
    assert (view.status, view.customer_id) == (OrderStatus.CANCELLED, alice.user_id)
    assert stock(store) == {"A-1": 5}


async def test_another_customer_cannot_cancel_and_learns_nothing(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice, bob = await add_user(store), await add_user(store)
    hers = await place(store, alice, ("A-1", 3))
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(UnknownOrder) as raised:
        await services.cancel_order(uow, bob, hers.id)

    assert str(raised.value) == f"order {hers.id} does not exist"
    assert uow.commits == 0
    assert state(store) == before


async def test_cancel_unknown_order_writes_nothing(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 5, "1"))
    admin = await add_user(store, admin=True)
    await place(store, admin, ("A-1", 1))
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(UnknownOrder):
        await services.cancel_order(uow, admin, 999)

    assert uow.commits == 0
    assert state(store) == before


@pytest.mark.parametrize("first", ["cancel", "ship"])
async def test_cancelling_an_order_that_is_not_placed_is_refused(
    store: InMemoryStore, first: str
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 3))
    if first == "cancel":
        await services.cancel_order(FakeUnitOfWork(store), alice, placed.id)
    else:
        await services.ship_order(FakeUnitOfWork(store), placed.id)
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(IllegalTransition) as raised:
        await services.cancel_order(uow, alice, placed.id)

    assert raised.value.action == "cancel"
    assert uow.commits == 0
    assert state(store) == before


async def test_cancel_puts_stock_back_on_the_item_even_after_its_sku_changed(
    store: InMemoryStore,
) -> None:
    apple, pear = await shelf(store, ("APPLE", 5, "1"), ("PEAR", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("APPLE", 2))
    admin_changes = [
        (apple, ItemChanges(sku="TEMP")),
        (pear, ItemChanges(sku="APPLE")),
        (apple, ItemChanges(sku="PEAR")),
    ]
    for item, changes in admin_changes:
        await item_services.update_item(FakeUnitOfWork(store), item_id(item), changes)

    await services.cancel_order(FakeUnitOfWork(store), alice, placed.id)

    assert store.items[item_id(apple)].quantity == 5  # the item the stock came from, now "PEAR"
    assert store.items[item_id(pear)].quantity == 5
    assert store.orders[placed.id].lines[0].sku == "APPLE"


async def test_cancel_adds_back_onto_stock_restocked_since(store: InMemoryStore) -> None:
    (item,) = await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 4))
    await item_services.restock(FakeUnitOfWork(store), item_id(item), 10)

    await services.cancel_order(FakeUnitOfWork(store), alice, placed.id)

    assert stock(store) == {"A-1": 15}


async def test_cancelled_stock_can_be_restocked_and_sold_but_not_returned_twice(
    store: InMemoryStore,
) -> None:
    (item,) = await shelf(store, ("A-1", 5, "1"))
    alice, bob = await add_user(store), await add_user(store)
    hers = await place(store, alice, ("A-1", 3))
    await services.cancel_order(FakeUnitOfWork(store), alice, hers.id)
    await item_services.restock(FakeUnitOfWork(store), item_id(item), 4)

    await place(store, bob, ("A-1", 9))
    assert stock(store) == {"A-1": 0}
    with pytest.raises(IllegalTransition):
        await services.cancel_order(FakeUnitOfWork(store), alice, hers.id)

    assert stock(store) == {"A-1": 0}


async def test_a_cancel_that_cannot_put_every_line_back_writes_nothing(
    store: InMemoryStore,
) -> None:
    """Stock was counted up to the maximum since the order: its line cannot go back, so the
    other line must not either, and the order stays placed."""
    first, second = await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 1), ("B-1", 1))
    await item_services.update_item(
        FakeUnitOfWork(store), item_id(second), ItemChanges(quantity=MAX_QUANTITY)
    )
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(StockLimitExceeded):
        await services.cancel_order(uow, alice, placed.id)

    assert uow.commits == 0
    assert state(store) == before
    assert store.items[item_id(first)].quantity == 4


# --- ship_order ------------------------------------------------------------------------------


async def test_ship_marks_the_order_shipped_and_keeps_the_stock_taken(
    store: InMemoryStore,
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 2))
    uow = FakeUnitOfWork(store)

    view = await services.ship_order(uow, placed.id)

    assert uow.commits == 1
    assert view.status is OrderStatus.SHIPPED
    assert (view.id, view.customer_id, view.lines) == (placed.id, alice.user_id, placed.lines)
    assert store.orders[placed.id].status is OrderStatus.SHIPPED
    assert stock(store) == {"A-1": 3}


@pytest.mark.parametrize("first", ["cancel", "ship"])
async def test_shipping_an_order_that_is_not_placed_is_refused(
    store: InMemoryStore, first: str
) -> None:
    await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 2))
    if first == "cancel":
        await services.cancel_order(FakeUnitOfWork(store), alice, placed.id)
    else:
        await services.ship_order(FakeUnitOfWork(store), placed.id)
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(IllegalTransition) as raised:
        await services.ship_order(uow, placed.id)

    assert raised.value.action == "ship"
    assert uow.commits == 0
    assert state(store) == before


async def test_ship_unknown_order_writes_nothing(store: InMemoryStore) -> None:
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(UnknownOrder):
        await services.ship_order(uow, 12345)

    assert uow.commits == 0
    assert state(store) == before


# --- delete_item and orders ------------------------------------------------------------------


@pytest.mark.parametrize("then", [None, "cancel", "ship"])
async def test_an_item_that_was_ever_ordered_cannot_be_deleted(
    store: InMemoryStore, then: str | None
) -> None:
    (item,) = await shelf(store, ("A-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 1))
    if then == "cancel":
        await services.cancel_order(FakeUnitOfWork(store), alice, placed.id)
    elif then == "ship":
        await services.ship_order(FakeUnitOfWork(store), placed.id)
    before = state(store)
    uow = FakeUnitOfWork(store)

    with pytest.raises(ItemHasOrders) as raised:
        await item_services.delete_item(uow, item_id(item))

    assert raised.value.item_id == item_id(item)
    assert uow.commits == 0
    assert state(store) == before


async def test_an_item_never_ordered_is_deleted_while_ordered_ones_stay(
    store: InMemoryStore,
) -> None:
    ordered, spare = await shelf(store, ("A-1", 5, "1"), ("B-1", 5, "1"))
    alice = await add_user(store)
    placed = await place(store, alice, ("A-1", 1))
    uow = FakeUnitOfWork(store)

    await item_services.delete_item(uow, item_id(spare))

    assert uow.commits == 1
    assert set(store.items) == {item_id(ordered)}
    with pytest.raises(UnknownItem):
        await item_services.get_item(InMemoryReads(store), item_id(spare))
    # The order that names the remaining item is untouched and still cancellable.
    await services.cancel_order(FakeUnitOfWork(store), alice, placed.id)
    assert stock(store) == {"A-1": 5}
