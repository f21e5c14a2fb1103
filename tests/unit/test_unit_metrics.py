"""What units of work report: outcomes and durations by use case, units open, retries by cause,
and the held-session warning, on the fake unit of work (the same base class as the real one)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from prometheus_client import REGISTRY

from domain.errors import DuplicateSku
from entrypoints.api.request_id import RequestIdFilter, request_id
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from service_layer.use_cases import use_case
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.order_support import ConflictingCommits, add_user, lines
from tests.unit.support import new_item, seed_one


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outcome(use_case_name: str, outcome_name: str) -> float:
    return sample("stockroom_units_of_work_total", use_case=use_case_name, outcome=outcome_name)


async def test_a_commit_a_failure_and_a_read_are_counted_by_use_case(store: InMemoryStore) -> None:
    before = {kind: outcome("add_item", kind) for kind in ("committed", "failed")}
    reads_before = outcome("list_orders", "rolled_back")
    seconds_before = sample("stockroom_unit_of_work_seconds_count", use_case="add_item")

    await item_services.add_item(FakeUnitOfWork(store), new_item(sku="m-1"))
    with pytest.raises(DuplicateSku):
        await item_services.add_item(FakeUnitOfWork(store), new_item(sku="m-1"))
    await order_services.list_orders(FakeUnitOfWork(store), await add_user(store))

    assert outcome("add_item", "committed") == before["committed"] + 1
    assert outcome("add_item", "failed") == before["failed"] + 1
    assert outcome("list_orders", "rolled_back") == reads_before + 1  # left without a commit
    assert sample("stockroom_unit_of_work_seconds_count", use_case="add_item") == seconds_before + 2
    assert sample("stockroom_units_of_work_open") == 0


async def test_units_open_right_now_are_counted_while_open(store: InMemoryStore) -> None:
    open_before = sample("stockroom_units_of_work_open")
    async with FakeUnitOfWork(store), FakeUnitOfWork(store):
        assert sample("stockroom_units_of_work_open") == open_before + 2
    assert sample("stockroom_units_of_work_open") == open_before


async def test_a_retry_is_counted_with_its_cause_and_the_orders_by_event(
    store: InMemoryStore,
) -> None:
    await seed_one(store, sku="M-2", quantity=5)
    buyer = await add_user(store)
    retries = sample(
        "stockroom_transaction_retries_total", use_case="place_order", cause="transient_conflict"
    )
    placed = sample("stockroom_orders_total", event="placed")

    await order_services.place_order(
        ConflictingCommits(store, conflicts=1), buyer, lines(("M-2", 1))
    )

    assert (
        sample(
            "stockroom_transaction_retries_total",
            use_case="place_order",
            cause="transient_conflict",
        )
        == retries + 1
    )
    assert sample("stockroom_orders_total", event="placed") == placed + 1
    assert outcome("place_order", "failed") >= 1  # the aborted attempt


@use_case
async def hold_a_unit(store: InMemoryStore, seconds: float) -> None:
    async with FakeUnitOfWork(store, warn_after=0.05):
        await asyncio.sleep(seconds)  # the scenario: a unit kept open too long


async def test_a_unit_held_too_long_warns_once_with_where_and_who_and_counts(
    store: InMemoryStore, caplog: pytest.LogCaptureFixture
) -> None:
    held_before = sample("stockroom_units_of_work_held_too_long_total", use_case="hold_a_unit")
    token = request_id.set("req-held-1")
    caplog.handler.addFilter(RequestIdFilter())  # as the app's handlers do: at emit time
    try:
        with caplog.at_level(logging.WARNING, logger="service_layer.unit_watch"):
            await hold_a_unit(store, seconds=0.3)
            await hold_a_unit(store, seconds=0)  # a quick one: no warning
    finally:
        request_id.reset(token)

    warnings = [r for r in caplog.records if r.name == "service_layer.unit_watch"]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "hold_a_unit" in message
    assert f"{__file__.rsplit('/', 1)[-1]}:" in message  # where the unit was opened
    assert warnings[0].request_id == "req-held-1"  # type: ignore[attr-defined]
    assert (
        sample("stockroom_units_of_work_held_too_long_total", use_case="hold_a_unit")
        == held_before + 1
    )
