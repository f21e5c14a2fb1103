"""The Item aggregate's value rules: every field is valid on the way in, or nothing changes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.errors import DomainError, InvalidValue, StockLimitExceeded
from domain.item import (
    DESCRIPTION_MAX_LENGTH,
    MAX_PRICE,
    MAX_QUANTITY,
    SKU_PATTERN,
    TITLE_MAX_LENGTH,
    generate_sku,
    normalise_sku,
)
from tests.factories import ItemFactory

CENT = Decimal("0.01")


def test_invalid_value_is_both_a_domain_error_and_a_value_error() -> None:
    for base in (DomainError, ValueError):
        with pytest.raises(base):
            ItemFactory(title=" ")


# --- SKU ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ab-1", "AB-1"),
        ("  ab-1\t\n", "AB-1"),
        ("x", "X"),
        ("a.b_c-9", "A.B_C-9"),
        ("9lives", "9LIVES"),
        ("a" * 64, "A" * 64),
    ],
)
def test_sku_is_stripped_and_upper_cased(raw: str, expected: str) -> None:
    assert normalise_sku(raw) == expected
    assert ItemFactory(sku=raw).sku == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "-ab",
        ".ab",
        "_ab",
        "ab c",
        "ab/c",
        "ab[c]",
        "ab\x00",
        "ÄB-1",
        "a" * 65,
    ],
)
def test_malformed_sku_is_refused(raw: str) -> None:
    with pytest.raises(InvalidValue):
        normalise_sku(raw)
    with pytest.raises(InvalidValue):
        ItemFactory(sku=raw)


def test_generated_sku_is_already_a_normalised_valid_sku() -> None:
    sku = generate_sku()
    assert SKU_PATTERN.fullmatch(sku)
    assert normalise_sku(sku) == sku


def test_generated_skus_do_not_repeat() -> None:
    skus = [generate_sku() for _ in range(2000)]
    assert len(set(skus)) == len(skus)


def test_change_sku_normalises_and_refuses_malformed_skus() -> None:
    item = ItemFactory()
    item.change_sku(" new-sku ")
    assert item.sku == "NEW-SKU"
    with pytest.raises(InvalidValue):
        item.change_sku("not a sku")
    assert item.sku == "NEW-SKU"


# --- title and description -----------------------------------------------------------------


@pytest.mark.parametrize("raw", ["", " ", "\t\n "])
def test_blank_title_is_refused(raw: str) -> None:
    with pytest.raises(InvalidValue):
        ItemFactory(title=raw)


def test_title_is_stripped_and_may_be_exactly_the_maximum_length() -> None:
    longest = "t" * TITLE_MAX_LENGTH
    assert ItemFactory(title=f"  {longest}  ").title == longest


def test_title_longer_than_the_maximum_is_refused() -> None:
    with pytest.raises(InvalidValue):
        ItemFactory(title="t" * (TITLE_MAX_LENGTH + 1))


def test_rename_validates_and_leaves_the_title_alone_on_failure() -> None:
    item = ItemFactory(title="Old name")
    item.rename("  New name ")
    assert item.title == "New name"
    for bad in ("   ", "t" * (TITLE_MAX_LENGTH + 1)):
        with pytest.raises(InvalidValue):
            item.rename(bad)
    assert item.title == "New name"


def test_description_may_be_absent_or_exactly_the_maximum_length() -> None:
    assert ItemFactory(description=None).description is None
    longest = "d" * DESCRIPTION_MAX_LENGTH
    assert ItemFactory(description=longest).description == longest


def test_description_longer_than_the_maximum_is_refused() -> None:
    with pytest.raises(InvalidValue):
        ItemFactory(description="d" * (DESCRIPTION_MAX_LENGTH + 1))


def test_describe_sets_clears_and_validates() -> None:
    item = ItemFactory(description="before")
    item.describe(None)
    assert item.description is None
    item.describe("after")
    with pytest.raises(InvalidValue):
        item.describe("d" * (DESCRIPTION_MAX_LENGTH + 1))
    assert item.description == "after"


# --- price -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (Decimal("0"), "0.00"),
        (0, "0.00"),
        (5, "5.00"),
        (Decimal("19.9"), "19.90"),
        ("19.99", "19.99"),
        (Decimal("1.000"), "1.00"),
        (MAX_PRICE, str(MAX_PRICE)),
    ],
)
def test_price_is_quantized_to_cents(raw: Any, expected: str) -> None:
    price = ItemFactory(price=raw).price
    assert isinstance(price, Decimal)
    assert price == Decimal(expected)
    assert price.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "raw",
    [
        Decimal("-0.01"),
        -1,
        MAX_PRICE + CENT,
        Decimal("1e9"),
        Decimal("1.001"),
        Decimal("0.005"),
        "19.999",
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "nan",
        "inf",
        "not a number",
        "",
        None,
    ],
)
def test_invalid_price_is_refused(raw: Any) -> None:
    with pytest.raises(InvalidValue):
        ItemFactory(price=raw)


def test_reprice_validates_and_leaves_the_price_alone_on_failure() -> None:
    item = ItemFactory()
    item.reprice(Decimal("12.5"))
    assert item.price == Decimal("12.50")
    for bad in (Decimal("-1"), Decimal("12.345"), Decimal("Infinity"), MAX_PRICE + 1):
        with pytest.raises(InvalidValue):
            item.reprice(bad)
    assert item.price == Decimal("12.50")


# --- quantity --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [0, 1, MAX_QUANTITY])
def test_quantity_within_bounds_is_kept(raw: int) -> None:
    assert ItemFactory(quantity=raw).quantity == raw


@pytest.mark.parametrize(
    "raw", [-1, MAX_QUANTITY + 1, 2**63, True, False, 1.0, 1.5, "3", Decimal("3"), None]
)
def test_invalid_quantity_is_refused(raw: Any) -> None:
    with pytest.raises(InvalidValue):
        ItemFactory(quantity=raw)


def test_count_stock_sets_an_absolute_figure() -> None:
    item = ItemFactory(quantity=40)
    item.count_stock(3)
    assert item.quantity == 3
    item.count_stock(0)
    assert item.quantity == 0


@pytest.mark.parametrize("bad", [-1, MAX_QUANTITY + 1, True, 2.0, "5"])
def test_count_stock_validates_and_leaves_stock_alone_on_failure(bad: Any) -> None:
    item = ItemFactory(quantity=7)
    with pytest.raises(InvalidValue):
        item.count_stock(bad)
    assert item.quantity == 7


def test_restock_adds_to_the_current_stock() -> None:
    item = ItemFactory(quantity=7)
    item.restock(5)
    item.restock(1)
    assert item.quantity == 13


@pytest.mark.parametrize("bad", [0, -1, -100, True, 1.5, 2.0, "3", None])
def test_restock_takes_positive_whole_numbers_only(bad: Any) -> None:
    item = ItemFactory(quantity=7)
    with pytest.raises(InvalidValue):
        item.restock(bad)
    assert item.quantity == 7


def test_restock_may_reach_the_maximum_stock_exactly() -> None:
    item = ItemFactory(quantity=MAX_QUANTITY - 10)
    item.restock(10)
    assert item.quantity == MAX_QUANTITY


def test_restock_past_the_maximum_is_refused_and_leaves_stock_unchanged() -> None:
    item = ItemFactory(quantity=MAX_QUANTITY - 10)
    with pytest.raises(StockLimitExceeded):  # 409: the stock is in the way, not the value
        item.restock(11)
    assert item.quantity == MAX_QUANTITY - 10
