"""The catalog import on the fake unit of work: row rules, batches, rejects, resumption.

Every batch gets a fresh ``FakeUnitOfWork`` over one store, as the container hands out a fresh
unit per call; ``Units`` counts them and can make one commit fail, as a crash would.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.catalog_import import ImportedBatch, StockMode, parse_row
from domain.errors import ImportModeConflict, InvalidValue
from domain.item import MAX_QUANTITY, Item
from service_layer.services.catalog_import import MAX_BATCH_SIZE, import_catalog
from service_layer.services.import_lines import ImportSummary, Rejected, SourceLine
from tests.fakes import FakeUnitOfWork, InMemoryStore

DIGEST = "d" * 64


class Crash(Exception):
    """Stands for the process dying at a commit."""


class FailingUnit(FakeUnitOfWork):
    async def _commit(self) -> None:
        raise Crash


class Units:
    """A unit-of-work factory over ``store`` that counts units and commits, and can fail the
    commit of the ``fail_at``-th unit."""

    def __init__(self, store: InMemoryStore, fail_at: int | None = None) -> None:
        self.store, self.fail_at = store, fail_at
        self.made: list[FakeUnitOfWork] = []

    def __call__(self) -> FakeUnitOfWork:
        failing = len(self.made) + 1 == self.fail_at
        unit = FailingUnit(self.store) if failing else FakeUnitOfWork(self.store)
        self.made.append(unit)
        return unit

    @property
    def commits(self) -> int:
        return sum(unit.commits for unit in self.made)


def rows(*records: Mapping[str, object], first_line: int = 2) -> list[SourceLine]:
    return [
        SourceLine(first_line + n, dict(record), repr(record)) for n, record in enumerate(records)
    ]


def row(n: int, **fields: object) -> dict[str, object]:
    return {"sku": f"S-{n}", "title": f"Thing {n}", "price": f"{n}.50", "quantity": n, **fields}


def catalog(store: InMemoryStore) -> dict[str, tuple[str, Decimal, int, str | None]]:
    return {i.sku: (i.title, i.price, i.quantity, i.description) for i in store.items.values()}


async def run_import(
    units: Units, source: Iterable[SourceLine], **options: object
) -> tuple[ImportSummary, list[Rejected]]:
    rejected: list[Rejected] = []
    summary = await import_catalog(units, source, on_reject=rejected.append, **options)  # type: ignore[arg-type]
    return summary, rejected


# --- one row ---------------------------------------------------------------------------------


def test_a_row_is_checked_by_the_items_own_rules() -> None:
    parsed = parse_row(7, {"sku": " ab-1 ", "title": " Cup ", "price": "3.5", "quantity": "12"})
    assert (parsed.line, parsed.sku, parsed.title, parsed.price, parsed.quantity) == (
        7,
        "AB-1",
        "Cup",
        Decimal("3.50"),
        12,
    )
    assert parsed.has_description is False


def test_json_numbers_are_read_exactly() -> None:
    parsed = parse_row(1, {"sku": 12345, "title": "x", "price": 19.99, "quantity": 3})
    assert (parsed.sku, parsed.price, parsed.quantity) == ("12345", Decimal("19.99"), 3)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"title": "x", "price": "1"}, "sku is required"),
        ({"sku": "A", "title": "", "price": "1"}, "title is required"),
        ({"sku": "A", "title": "x", "price": "abc"}, "price must be a decimal number"),
        ({"sku": "A", "title": "x", "price": "1.001"}, "at most two decimal places"),
        ({"sku": "A", "title": "x", "price": "-1"}, "price must be between"),
        ({"sku": "A", "title": "x", "price": True}, "price must be a decimal number"),
        ({"sku": "A", "title": "x", "price": "1", "quantity": "2.5"}, "whole number"),
        ({"sku": "A", "title": "x", "price": "1", "quantity": "-3"}, "between 0 and"),
        ({"sku": "A", "title": "x", "price": "1", "quantity": "+-5"}, "whole number"),
        ({"sku": "A", "title": "x", "price": "1", "quantity": "--5"}, "whole number"),
        ({"sku": "A", "title": "x", "price": "1", "quantity": "9" * 5000}, "between 0 and"),
        ({"sku": "A", "title": "x", "price": "1", "quantity": 1.0}, "whole number"),
        ({"sku": "A b", "title": "x", "price": "1"}, "SKU must be"),
        ({"sku": "A", "title": "x\x00", "price": "1"}, "NUL"),
        ({"sku": "A", "title": "\udcff", "price": "1"}, "valid Unicode"),
        ({"sku": "A", "title": "x", "price": "1", "colour": "red"}, "unknown field(s): colour"),
        ({"sku": "A", "title": ["x"], "price": "1"}, "title must be text"),
    ],
)
def test_a_bad_row_is_refused_with_the_reason(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidValue, match=reason.replace("(", r"\(").replace(")", r"\)")):
        parse_row(1, fields)


# --- batches ---------------------------------------------------------------------------------


async def test_rows_go_in_batches_of_one_unit_each(store: InMemoryStore) -> None:
    units = Units(store)
    summary, rejected = await run_import(units, rows(*(row(n) for n in range(25))), batch_size=10)

    assert (summary.read, summary.created, summary.batches) == (25, 25, 3)
    assert (units.commits, len(units.made)) == (3, 3)  # three units, each committed once
    assert rejected == []
    assert catalog(store)["S-7"] == ("Thing 7", Decimal("7.50"), 7, None)


async def test_bad_rows_are_rejected_and_the_rest_of_their_batch_goes_in(
    store: InMemoryStore,
) -> None:
    source = rows(row(1), row(2, price="x"), row(3), row(4, title=" "), row(5))
    source.append(SourceLine(7, {}, "{not json", error="not valid JSON: Expecting ..."))
    summary, rejected = await run_import(Units(store), source, batch_size=2)

    assert sorted(catalog(store)) == ["S-1", "S-3", "S-5"]
    assert [(r.line, r.reason) for r in rejected] == [
        (3, "price must be a decimal number"),
        (5, "title must not be blank"),
        (7, "not valid JSON: Expecting ..."),
    ]
    assert rejected[0].text == repr(row(2, price="x"))
    assert (summary.read, summary.created, summary.rejected) == (6, 3, 3)


async def test_a_row_the_item_refuses_leaves_the_item_as_it_was(store: InMemoryStore) -> None:
    await run_import(Units(store), rows(row(1), row(2, quantity=MAX_QUANTITY - 1)))
    # The second row would add past the maximum: it alone is refused, in the middle of a batch.
    again = rows(row(1, title="Renamed"), row(2, title="Renamed", quantity=5), row(3))
    summary, rejected = await run_import(Units(store), again, mode=StockMode.ADD)

    expected = f"stock of S-2 would exceed {MAX_QUANTITY}"
    assert [(r.line, r.reason) for r in rejected] == [(3, expected)]
    assert catalog(store)["S-2"] == ("Thing 2", Decimal("2.50"), MAX_QUANTITY - 1, None)
    assert catalog(store)["S-1"] == ("Renamed", Decimal("1.50"), 2, None)
    assert (summary.created, summary.updated, summary.rejected) == (1, 1, 1)


# --- upsert by SKU ---------------------------------------------------------------------------


async def test_existing_skus_are_updated_and_unchanged_rows_counted(store: InMemoryStore) -> None:
    await run_import(Units(store), rows(row(1), row(2, description="kept")))
    changed = rows(
        row(1, price="9.99"),
        {"sku": "s-2", "title": "Thing 2", "price": "2.50", "quantity": 2},  # no description
        row(3),
    )
    summary, _ = await run_import(Units(store), changed)

    assert (summary.created, summary.updated, summary.unchanged) == (1, 1, 1)
    assert catalog(store) == {
        "S-1": ("Thing 1", Decimal("9.99"), 1, None),
        "S-2": ("Thing 2", Decimal("2.50"), 2, "kept"),  # no description column: kept
        "S-3": ("Thing 3", Decimal("3.50"), 3, None),
    }


async def test_an_empty_description_cell_clears_it_and_no_quantity_keeps_the_stock(
    store: InMemoryStore,
) -> None:
    await run_import(Units(store), rows(row(1, description="old")))
    await run_import(
        Units(store), rows({"sku": "S-1", "title": "T", "price": "1", "description": ""})
    )
    assert catalog(store)["S-1"] == ("T", Decimal("1.00"), 1, None)


async def test_a_sku_twice_in_one_file_is_one_item_the_last_row_wins(store: InMemoryStore) -> None:
    summary, _ = await run_import(Units(store), rows(row(1), row(1, price="7.00", quantity=4)))
    assert catalog(store) == {"S-1": ("Thing 1", Decimal("7.00"), 4, None)}
    assert (summary.created, summary.updated) == (1, 1)


async def test_set_mode_sets_stock_and_add_mode_adds_it(store: InMemoryStore) -> None:
    await run_import(Units(store), rows(row(1, quantity=10), row(2, quantity=10)))
    await run_import(Units(store), rows(row(1, quantity=3)), mode=StockMode.SET)
    await run_import(Units(store), rows(row(2, quantity=3), row(9, quantity=4)), mode=StockMode.ADD)
    assert {sku: values[2] for sku, values in catalog(store).items()} == {
        "S-1": 3,
        "S-2": 13,
        "S-9": 4,  # a new item in add mode starts with what arrived
    }


# --- a run that stops half-way ---------------------------------------------------------------


@pytest.mark.parametrize("mode", list(StockMode))
async def test_a_rerun_after_a_crash_finishes_without_applying_a_row_twice(
    store: InMemoryStore, mode: StockMode
) -> None:
    seeded = store.next_id("items")
    store.items[seeded] = Item("S-0", "Old", Decimal("1"), quantity=100, id=seeded)
    source = rows(row(0, quantity=5), *(row(n, quantity=1) for n in range(1, 30)))
    # Unit 1 reads the journal; units 2, 3, 4 are batches; the third batch dies at commit.
    with pytest.raises(Crash):
        await run_import(
            Units(store, fail_at=4), source, batch_size=10, mode=mode, file_digest=DIGEST
        )
    assert len(store.items) == 20  # two batches in, the third not at all

    summary, _ = await run_import(Units(store), source, batch_size=7, mode=mode, file_digest=DIGEST)

    assert (summary.skipped, summary.created) == (20, 10)
    stock = {sku: values[2] for sku, values in catalog(store).items()}
    assert stock == {"S-0": 105 if mode is StockMode.ADD else 5} | {
        f"S-{n}": 1 for n in range(1, 30)
    }


async def test_a_finished_file_run_again_changes_nothing_unless_asked(store: InMemoryStore) -> None:
    source = rows(row(1, quantity=2))
    options = {"mode": StockMode.ADD, "file_digest": DIGEST}
    await run_import(Units(store), source, **options)
    summary, _ = await run_import(Units(store), source, **options)
    assert (summary.skipped, catalog(store)["S-1"][2]) == (1, 2)

    summary, _ = await run_import(Units(store), source, again=True, **options)
    assert (summary.skipped, summary.updated, catalog(store)["S-1"][2]) == (0, 1, 4)


async def test_finishing_a_file_in_the_other_stock_mode_is_refused(store: InMemoryStore) -> None:
    source = rows(*(row(n) for n in range(4)))
    with pytest.raises(Crash):
        await run_import(Units(store, fail_at=3), source, batch_size=2, file_digest=DIGEST)
    before = catalog(store)

    with pytest.raises(ImportModeConflict, match="--stock set"):
        await run_import(Units(store), source, mode=StockMode.ADD, file_digest=DIGEST)
    assert catalog(store) == before


async def test_rejected_rows_are_reported_again_by_a_rerun(store: InMemoryStore) -> None:
    source = rows(row(1), row(2, price="bad"), row(3))
    await run_import(Units(store), source, file_digest=DIGEST)
    summary, rejected = await run_import(Units(store), source, file_digest=DIGEST)
    assert [r.line for r in rejected] == [3]
    assert (summary.skipped, summary.rejected) == (2, 1)


@pytest.mark.parametrize("size", [0, MAX_BATCH_SIZE + 1])
async def test_a_batch_size_out_of_range_is_refused(store: InMemoryStore, size: int) -> None:
    with pytest.raises(ValueError, match="batch_size must be 1 to 10000"):
        await run_import(Units(store), rows(row(1)), batch_size=size)


class RacedUnit(FakeUnitOfWork):
    """Another writer creates S-1 between this unit's lock and its commit."""

    async def _commit(self) -> None:
        rival = self.store.next_id("items")
        self.store.items[rival] = Item("S-1", "Created by the API", Decimal("9"), 5, id=rival)
        await super()._commit()


async def test_a_new_sku_created_meanwhile_by_someone_else_is_updated_on_a_second_try(
    store: InMemoryStore,
) -> None:
    made: list[FakeUnitOfWork] = []

    def units() -> FakeUnitOfWork:
        unit = RacedUnit(store) if not made else FakeUnitOfWork(store)
        made.append(unit)
        return unit

    summary, rejected = await run_import(units, rows(row(1, quantity=3)), mode=StockMode.ADD)  # type: ignore[arg-type]

    assert (len(made), summary.created, summary.updated, rejected) == (2, 0, 1, [])
    assert catalog(store) == {"S-1": ("Thing 1", Decimal("1.50"), 8, None)}


async def test_a_row_the_item_refused_is_tried_again_by_a_rerun(store: InMemoryStore) -> None:
    """Regression: the refused row was inside a committed batch's lines, so a re-run skipped
    it as "committed" and its rejects file no longer named it."""
    await run_import(Units(store), rows(row(1, quantity=MAX_QUANTITY - 1)))
    delivery = rows(row(1, quantity=5), row(2, quantity=1), row(3, quantity=1))
    options = {"mode": StockMode.ADD, "file_digest": DIGEST, "batch_size": 3}
    _, rejected = await run_import(Units(store), delivery, **options)
    assert [r.line for r in rejected] == [2]

    summary, rejected = await run_import(Units(store), delivery, **options)

    assert [r.line for r in rejected] == [2]  # tried again, refused again, reported again
    assert summary.skipped == 2
    assert catalog(store)["S-1"][2] == MAX_QUANTITY - 1


def test_a_batch_split_around_refused_lines() -> None:
    batch = ImportedBatch(DIGEST, 2, 10, StockMode.ADD, datetime(2026, 11, 27, tzinfo=UTC))
    assert [(b.first_line, b.last_line) for b in batch.without([2, 5, 6, 10])] == [
        (3, 4),
        (7, 9),
    ]
    assert batch.without([]) == [batch]
