"""The Order aggregate's rules: stock is taken for every line or for none, prices are fixed at
purchase, cancelling puts stock back where it came from, and shipping is final."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import (
    IllegalTransition,
    InvalidValue,
    OutOfStock,
    StockLimitExceeded,
    UnknownSku,
)
from domain.item import MAX_QUANTITY, Item
from domain.order import (
    MAX_LINE_QUANTITY,
    MAX_LINES,
    LineRequest,
    Order,
    OrderLine,
    OrderStatus,
    normalise_lines,
)
from tests.factories import ItemFactory

LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)


def shelf(*stock: tuple[str, int, str]) -> list[Item]:
    """Stored items (they have ids) from (sku, quantity, price)."""
    return [
        ItemFactory(id=index, sku=sku, quantity=quantity, price=Decimal(price))
        for index, (sku, quantity, price) in enumerate(stock, start=10)
    ]


def quantities(items: list[Item]) -> dict[str, int]:
    return {item.sku: item.quantity for item in items}


def request(*wanted: tuple[str, int]) -> list[LineRequest]:
    return normalise_lines([LineRequest(sku, quantity) for sku, quantity in wanted])


def placed(items: list[Item], *wanted: tuple[str, int], customer_id: int = 7) -> Order:
    order = Order.place(customer_id, request(*wanted), items)
    order.id = 1
    return order


# --- normalise_lines -------------------------------------------------------------------------


def test_normalise_lines_normalises_skus() -> None:
    assert normalise_lines([LineRequest("  ab-1\t", 2)]) == [LineRequest("AB-1", 2)]


def test_normalise_lines_merges_repeated_skus_after_normalising_them() -> None:
    raw = [LineRequest("ab-1", 1), LineRequest("cd-2", 4), LineRequest(" AB-1 ", 2)]

    assert normalise_lines(raw) == [LineRequest("AB-1", 3), LineRequest("CD-2", 4)]


def test_normalise_lines_sorts_by_sku() -> None:
    raw = [LineRequest("c", 1), LineRequest("a", 2), LineRequest("b", 3)]

    assert normalise_lines(raw) == [LineRequest("A", 2), LineRequest("B", 3), LineRequest("C", 1)]


def test_normalise_lines_gives_one_canonical_form_for_equivalent_requests() -> None:
    one = [LineRequest("b-1", 2), LineRequest("a-1", 1), LineRequest("B-1", 1)]
    other = [LineRequest("A-1", 1), LineRequest("b-1", 3)]

    assert normalise_lines(one) == normalise_lines(other)


def test_normalise_lines_accepts_any_iterable() -> None:
    assert normalise_lines(iter([LineRequest("x", 1)])) == [LineRequest("X", 1)]


def test_an_order_without_lines_is_refused() -> None:
    with pytest.raises(InvalidValue) as raised:
        normalise_lines([])

    assert raised.value.field == "lines"


def test_an_order_may_have_exactly_the_maximum_number_of_lines() -> None:
    raw = [LineRequest(f"S-{n:03d}", 1) for n in range(MAX_LINES)]

    assert len(normalise_lines(raw)) == MAX_LINES


def test_an_order_with_more_than_the_maximum_number_of_lines_is_refused() -> None:
    raw = [LineRequest(f"S-{n:03d}", 1) for n in range(MAX_LINES + 1)]

    with pytest.raises(InvalidValue) as raised:
        normalise_lines(raw)

    assert raised.value.field == "lines"


def test_repeated_skus_count_once_towards_the_line_limit() -> None:
    raw = [LineRequest(f"S-{n:03d}", 1) for n in range(MAX_LINES)] + [LineRequest("s-000", 1)]

    merged = normalise_lines(raw)

    assert len(merged) == MAX_LINES
    assert merged[0] == LineRequest("S-000", 2)


@pytest.mark.parametrize("quantity", [1, 2, MAX_LINE_QUANTITY])
def test_line_quantity_within_bounds_is_kept(quantity: int) -> None:
    assert normalise_lines([LineRequest("a", quantity)]) == [LineRequest("A", quantity)]


@pytest.mark.parametrize(
    "quantity",
    [0, -1, MAX_LINE_QUANTITY + 1, 10**30, True, False, 1.0, 2.5, "2", Decimal("2"), None],
)
def test_line_quantity_out_of_bounds_or_not_a_whole_number_is_refused(quantity: Any) -> None:
    with pytest.raises(InvalidValue) as raised:
        normalise_lines([LineRequest("ok-1", 1), LineRequest("a", quantity)])

    assert raised.value.field == "lines"


def test_merged_quantity_above_the_line_maximum_is_refused() -> None:
    half = MAX_LINE_QUANTITY // 2
    raw = [LineRequest("a", half), LineRequest("A", half + 1)]

    with pytest.raises(InvalidValue) as raised:
        normalise_lines(raw)

    assert raised.value.field == "lines"


def test_merged_quantity_of_exactly_the_line_maximum_is_kept() -> None:
    half = MAX_LINE_QUANTITY // 2
    raw = [LineRequest("a", half), LineRequest("A", MAX_LINE_QUANTITY - half)]

    assert normalise_lines(raw) == [LineRequest("A", MAX_LINE_QUANTITY)]


@pytest.mark.parametrize("sku", ["", "  ", "has space", "-lead", "x" * 65])
def test_a_malformed_sku_in_a_line_is_refused(sku: str) -> None:
    with pytest.raises(InvalidValue) as raised:
        normalise_lines([LineRequest(sku, 1)])

    assert raised.value.field == "sku"


# --- Order.place -----------------------------------------------------------------------------


def test_place_takes_stock_for_every_line_and_records_the_sale() -> None:
    items = shelf(("A-1", 5, "2.50"), ("B-1", 3, "10.00"), ("C-1", 9, "1.00"))

    order = Order.place(42, request(("b-1", 3), ("a-1", 2)), items)

    assert quantities(items) == {"A-1": 3, "B-1": 0, "C-1": 9}
    assert order.customer_id == 42
    assert order.status is OrderStatus.PLACED
    assert order.id is None
    assert [(line.item_id, line.sku, line.quantity, line.unit_price) for line in order.lines] == [
        (items[0].id, "A-1", 2, Decimal("2.50")),
        (items[1].id, "B-1", 3, Decimal("10.00")),
    ]
    assert order.created_at.tzinfo is not None


def test_place_may_take_the_last_unit() -> None:
    items = shelf(("A-1", 1, "1.00"))

    Order.place(1, request(("A-1", 1)), items)

    assert quantities(items) == {"A-1": 0}


def test_place_with_one_short_line_takes_nothing_for_any_line() -> None:
    items = shelf(("A-1", 5, "1.00"), ("B-1", 1, "1.00"), ("C-1", 5, "1.00"))
    before = quantities(items)

    with pytest.raises(OutOfStock) as raised:
        Order.place(1, request(("A-1", 5), ("B-1", 2), ("C-1", 1)), items)

    assert raised.value.skus == ["B-1"]
    assert quantities(items) == before


def test_out_of_stock_names_every_short_sku_and_only_those() -> None:
    items = shelf(("A-1", 1, "1.00"), ("B-1", 9, "1.00"), ("C-1", 0, "1.00"))
    before = quantities(items)

    with pytest.raises(OutOfStock) as raised:
        Order.place(1, request(("c-1", 1), ("b-1", 2), ("a-1", 2)), items)

    assert raised.value.skus == ["A-1", "C-1"]
    assert "A-1" in str(raised.value)
    assert "C-1" in str(raised.value)
    assert "B-1" not in str(raised.value)
    assert quantities(items) == before


def test_unknown_skus_are_named_and_nothing_is_taken() -> None:
    items = shelf(("A-1", 5, "1.00"))

    with pytest.raises(UnknownSku) as raised:
        Order.place(1, request(("A-1", 1), ("zz-2", 1), ("yy-1", 1)), items)

    assert raised.value.skus == ["YY-1", "ZZ-2"]
    assert raised.value.field == "lines"
    assert quantities(items) == {"A-1": 5}


def test_unknown_sku_is_reported_before_any_stock_check() -> None:
    items = shelf(("A-1", 0, "1.00"))

    with pytest.raises(UnknownSku) as raised:
        Order.place(1, request(("A-1", 3), ("NOPE-1", 1)), items)

    assert raised.value.skus == ["NOPE-1"]
    assert quantities(items) == {"A-1": 0}


def test_unknown_sku_is_a_request_error_and_out_of_stock_is_not() -> None:
    assert issubclass(UnknownSku, InvalidValue)
    assert not issubclass(OutOfStock, InvalidValue)


def test_unit_prices_are_captured_at_purchase() -> None:
    items = shelf(("A-1", 5, "2.50"))
    order = Order.place(1, request(("A-1", 2)), items)

    items[0].reprice(Decimal("99.00"))

    assert order.lines[0].unit_price == Decimal("2.50")
    assert order.total == Decimal("5.00")


# --- totals ----------------------------------------------------------------------------------


def test_line_total_is_unit_price_times_quantity() -> None:
    line = OrderLine(item_id=1, sku="A-1", quantity=3, unit_price=Decimal("19.99"))

    assert line.total == Decimal("59.97")


def test_order_total_is_the_sum_of_its_line_totals() -> None:
    items = shelf(("A-1", 5, "0.10"), ("B-1", 5, "0.20"), ("C-1", 5, "19.99"))

    order = Order.place(1, request(("A-1", 3), ("B-1", 1), ("C-1", 2)), items)

    assert [line.total for line in order.lines] == [
        Decimal("0.30"),
        Decimal("0.20"),
        Decimal("39.98"),
    ]
    assert order.total == Decimal("40.48")
    assert isinstance(order.total, Decimal)


def test_free_items_make_a_zero_total() -> None:
    items = shelf(("A-1", 5, "0"))

    order = Order.place(1, request(("A-1", 3)), items)

    assert order.total == Decimal("0.00")


def test_an_order_without_lines_totals_zero() -> None:
    assert Order(customer_id=1).total == Decimal("0.00")


# --- cancel ----------------------------------------------------------------------------------


def test_cancel_puts_each_lines_quantity_back_on_its_item() -> None:
    items = shelf(("A-1", 5, "1.00"), ("B-1", 3, "1.00"), ("C-1", 4, "1.00"))
    order = placed(items, ("A-1", 2), ("B-1", 3))
    order.updated_at = LONG_AGO

    order.cancel(list(reversed(items)))

    assert order.status is OrderStatus.CANCELLED
    assert quantities(items) == {"A-1": 5, "B-1": 3, "C-1": 4}
    assert order.updated_at > LONG_AGO


def test_cancel_returns_stock_by_item_id_even_after_the_sku_changed() -> None:
    items = shelf(("A-1", 5, "1.00"), ("B-1", 5, "1.00"))
    order = placed(items, ("A-1", 2))
    # The two items swap SKUs: a lookup by SKU would put the stock back on the wrong one.
    items[0].change_sku("TEMP-1")
    items[1].change_sku("A-1")
    items[0].change_sku("B-1")

    order.cancel(items)

    assert (items[0].quantity, items[1].quantity) == (5, 5)
    assert order.lines[0].sku == "A-1"


def test_cancel_adds_back_onto_stock_restocked_since() -> None:
    items = shelf(("A-1", 5, "1.00"))
    order = placed(items, ("A-1", 4))
    items[0].restock(10)

    order.cancel(items)

    assert items[0].quantity == 15


def test_item_ids_are_the_distinct_items_on_the_order_in_id_order() -> None:
    items = shelf(("C-1", 5, "1.00"), ("A-1", 5, "1.00"), ("B-1", 5, "1.00"))

    order = placed(items, ("A-1", 1), ("B-1", 1), ("C-1", 1))

    assert order.item_ids == sorted(item.id for item in items if item.id is not None)
    assert [line.sku for line in order.lines] == ["A-1", "B-1", "C-1"]


# --- ship and the transitions that are refused -----------------------------------------------


def test_ship_marks_the_order_shipped_and_leaves_stock_alone() -> None:
    items = shelf(("A-1", 5, "1.00"))
    order = placed(items, ("A-1", 2))
    order.updated_at = LONG_AGO

    order.ship()

    assert order.status is OrderStatus.SHIPPED
    assert quantities(items) == {"A-1": 3}
    assert order.updated_at > LONG_AGO


def _cancel(order: Order, items: list[Item]) -> None:
    order.cancel(items)


def _ship(order: Order, items: list[Item]) -> None:
    order.ship()


Step = Callable[[Order, list[Item]], None]


@pytest.mark.parametrize(
    ("reach", "current", "attempt", "action"),
    [
        (_ship, "shipped", _cancel, "cancel"),
        (_cancel, "cancelled", _cancel, "cancel"),
        (_ship, "shipped", _ship, "ship"),
        (_cancel, "cancelled", _ship, "ship"),
    ],
    ids=["cancel shipped", "cancel cancelled", "ship shipped", "ship cancelled"],
)
def test_an_illegal_transition_is_refused_and_changes_nothing(
    reach: Step, current: str, attempt: Step, action: str
) -> None:
    items = shelf(("A-1", 5, "1.00"), ("B-1", 5, "1.00"))
    order = placed(items, ("A-1", 2), ("B-1", 1))
    reach(order, items)
    order.updated_at = LONG_AGO
    status, stock = order.status, quantities(items)

    with pytest.raises(IllegalTransition) as raised:
        attempt(order, items)

    assert (raised.value.current, raised.value.action) == (current, action)
    assert str(raised.value) == f"cannot {action} an order that is {current}"
    assert order.status is status
    assert order.status.value == current
    assert order.updated_at == LONG_AGO
    assert quantities(items) == stock


def test_order_status_values_are_what_the_api_shows() -> None:
    assert [status.value for status in OrderStatus] == ["placed", "shipped", "cancelled"]


# --- Item.take / Item.put_back ---------------------------------------------------------------


def test_take_removes_stock_down_to_zero() -> None:
    item = ItemFactory(sku="T-1", quantity=5)

    item.take(2)
    assert item.quantity == 3
    item.take(3)
    assert item.quantity == 0


def test_taking_more_than_the_shelf_holds_is_out_of_stock_and_takes_nothing() -> None:
    item = ItemFactory(sku="T-1", quantity=2)

    with pytest.raises(OutOfStock) as raised:
        item.take(3)

    assert raised.value.skus == ["T-1"]
    assert item.quantity == 2


@pytest.mark.parametrize("bad", [0, -1])
def test_take_refuses_a_non_positive_quantity(bad: int) -> None:
    item = ItemFactory(quantity=2)

    with pytest.raises(InvalidValue):
        item.take(bad)

    assert item.quantity == 2


def test_put_back_adds_to_stock() -> None:
    item = ItemFactory(quantity=2)

    item.put_back(3)

    assert item.quantity == 5


@pytest.mark.parametrize("bad", [0, -1])
def test_put_back_refuses_a_non_positive_quantity(bad: int) -> None:
    item = ItemFactory(quantity=2)

    with pytest.raises(InvalidValue):
        item.put_back(bad)

    assert item.quantity == 2


def test_put_back_may_reach_but_not_pass_the_maximum_stock() -> None:
    item = ItemFactory(quantity=MAX_QUANTITY - 2)

    with pytest.raises(StockLimitExceeded):
        item.put_back(3)
    assert item.quantity == MAX_QUANTITY - 2

    item.put_back(2)
    assert item.quantity == MAX_QUANTITY
