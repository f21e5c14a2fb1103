"""The unit of work's span, on the fake unit: inside its use case's span, with the outcome the
metrics count, "commit" / "rollback" events, an error status when it ends through an
exception (named by type, never by message), and the use case's "retry" events around the
attempts of a transient conflict."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from domain.errors import UnknownItem
from service_layer.services import items as item_services
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.tracing_support import children, event_names, named, recording
from tests.unit.order_support import ConflictingCommits
from tests.unit.support import item_id, seed_one

UNIT = "unit of work"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recording() as exporter:
        yield exporter


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


async def test_a_committed_unit_is_a_child_of_its_use_case(
    store: InMemoryStore, exporter: InMemorySpanExporter
) -> None:
    item = await seed_one(store, quantity=1)
    exporter.clear()  # the seeding's own unit is not the subject

    await item_services.restock(FakeUnitOfWork(store), item_id(item), 2)

    spans = finished(exporter)
    (use_case,) = named(spans, "use case restock")
    (unit,) = children(spans, use_case)
    assert unit.name == UNIT
    assert unit.attributes == {"use_case": "restock", "outcome": "committed"}
    assert event_names(unit) == ["commit"]
    assert unit.status.status_code is StatusCode.UNSET


async def test_a_unit_left_without_commit_rolls_back_without_error(
    exporter: InMemorySpanExporter,
) -> None:
    async with FakeUnitOfWork():
        pass

    (unit,) = named(finished(exporter), UNIT)
    assert unit.parent is None  # no use case around it: a trace of its own
    assert unit.attributes == {"use_case": "unnamed", "outcome": "rolled_back"}
    assert event_names(unit) == ["rollback"]
    assert unit.status.status_code is StatusCode.UNSET


async def test_a_unit_ended_by_an_exception_is_an_error_named_by_type_only(
    exporter: InMemorySpanExporter,
) -> None:
    with pytest.raises(UnknownItem):
        await item_services.restock(FakeUnitOfWork(), 404, 1)

    spans = finished(exporter)
    (use_case,) = named(spans, "use case restock")
    (unit,) = children(spans, use_case)
    assert unit.attributes is not None
    assert unit.attributes["outcome"] == "failed"
    assert unit.attributes["error.type"] == "domain.errors.UnknownItem"
    assert event_names(unit) == ["rollback"]
    assert unit.status.status_code is StatusCode.ERROR
    assert unit.status.description == "UnknownItem"  # not its message: it may quote data


async def commit_then_fail() -> None:
    async with FakeUnitOfWork() as uow:
        await uow.commit()
        raise RuntimeError("after the commit")


async def test_an_exception_after_commit_fails_the_unit_but_rolls_nothing_back(
    exporter: InMemorySpanExporter,
) -> None:
    with pytest.raises(RuntimeError):
        await commit_then_fail()

    (unit,) = named(finished(exporter), UNIT)
    assert unit.attributes is not None
    assert unit.attributes["outcome"] == "failed"
    assert event_names(unit) == ["commit"]
    assert unit.status.status_code is StatusCode.ERROR


class UnavailableOnBegin(FakeUnitOfWork):
    async def _begin(self) -> None:
        raise ConnectionError("no session to be had")


async def test_a_unit_that_cannot_begin_still_ends_its_span(
    exporter: InMemorySpanExporter,
) -> None:
    before = trace.get_current_span()
    with pytest.raises(ConnectionError):
        async with UnavailableOnBegin():
            pytest.fail("the block must not run")

    (unit,) = named(finished(exporter), UNIT)
    assert unit.status.status_code is StatusCode.ERROR
    assert unit.attributes is not None
    assert unit.attributes["outcome"] == "failed"
    # And it is no longer the current span: what runs next is not its child.
    assert trace.get_current_span() is before


async def test_a_retried_conflict_is_an_event_between_two_units(
    store: InMemoryStore, exporter: InMemorySpanExporter
) -> None:
    item = await seed_one(store, quantity=1)
    exporter.clear()

    await item_services.restock(ConflictingCommits(store, conflicts=1), item_id(item), 2)

    spans = finished(exporter)
    (use_case,) = named(spans, "use case restock")
    retry = [event for event in use_case.events if event.name == "retry"]
    assert [dict(event.attributes or {}) for event in retry] == [
        {"attempt": 1, "cause": "transient_conflict"}
    ]
    first, second = children(spans, use_case)
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "TransientConflict"
    assert second.attributes is not None
    assert second.attributes["outcome"] == "committed"
    # The event sits between the attempts, in time as in the story.
    assert first.end_time is not None
    assert second.start_time is not None
    assert first.end_time <= retry[0].timestamp <= second.start_time


async def test_a_unit_makes_no_span_current_when_spans_are_not_recorded() -> None:
    # Outside ``recording()`` every span is dropped, as in a process without a provider: the
    # unit then leaves the context alone (no attach, no detach).
    before = trace.get_current_span()
    async with FakeUnitOfWork():
        assert trace.get_current_span() is before
