"""What watches units of work from outside (adapters/unit_observers.py), called as the real
unit calls it: ``opened()`` when a unit has begun, ``closed(...)`` as it ends. Metrics by use
case and the held-session warning; spans inside their use case's span. The real unit's calls
are checked in tests/integration/test_unit_observers.py."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import REGISTRY

from adapters.unit_observers import Observers, UnitMetrics, UnitSpans, unit_observer
from domain.errors import UnknownItem
from entrypoints.api.request_id import RequestIdFilter, request_id
from service_layer.use_cases import use_case
from tests.polling import eventually
from tests.tracing_support import children, event_names, named, recording

UNIT = "unit of work"


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def outcome(use_case_name: str, outcome_name: str) -> float:
    return sample("stockroom_units_of_work_total", use_case=use_case_name, outcome=outcome_name)


@use_case
async def observed_unit(
    observer: UnitMetrics | UnitSpans, outcome: str, error: BaseException | None = None
) -> None:
    """A unit of a use case named "observed_unit", as the real unit reports it."""
    opened = observer.opened()
    observer.closed(opened, outcome, error)


async def test_outcomes_and_durations_are_counted_by_use_case() -> None:
    before = {kind: outcome("observed_unit", kind) for kind in ("committed", "failed")}
    seconds = sample("stockroom_unit_of_work_seconds_count", use_case="observed_unit")
    metrics = UnitMetrics()

    await observed_unit(metrics, "committed")
    await observed_unit(metrics, "failed", UnknownItem(1))

    assert outcome("observed_unit", "committed") == before["committed"] + 1
    assert outcome("observed_unit", "failed") == before["failed"] + 1
    assert sample("stockroom_unit_of_work_seconds_count", use_case="observed_unit") == seconds + 2


async def test_units_open_right_now_are_counted_while_open() -> None:
    metrics, open_before = UnitMetrics(), sample("stockroom_units_of_work_open")
    first, second = metrics.opened(), metrics.opened()
    assert sample("stockroom_units_of_work_open") == open_before + 2
    metrics.closed(first, "rolled_back", None)
    metrics.closed(second, "committed", None)
    assert sample("stockroom_units_of_work_open") == open_before
    assert outcome("unnamed", "rolled_back") >= 1  # outside any use case


@use_case
async def hold_a_unit(metrics: UnitMetrics, released: asyncio.Event) -> None:
    opened = metrics.opened()
    await released.wait()  # the scenario: a unit kept open while something else runs
    metrics.closed(opened, "rolled_back", None)


async def test_a_unit_held_too_long_warns_once_with_who_and_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    held_before = sample("stockroom_units_of_work_held_too_long_total", use_case="hold_a_unit")
    metrics, released = UnitMetrics(warn_after=0.01), asyncio.Event()
    token = request_id.set("req-held-1")
    caplog.handler.addFilter(RequestIdFilter())  # as the app's handlers do: at emit time
    try:
        with caplog.at_level(logging.WARNING, logger="adapters.unit_observers"):
            holding = asyncio.create_task(hold_a_unit(metrics, released))
            await eventually(lambda: bool(caplog.records))
            released.set()
            await holding
            quick = asyncio.Event()
            quick.set()
            await hold_a_unit(metrics, quick)  # closed before its timer: no warning
    finally:
        request_id.reset(token)

    warnings = [r for r in caplog.records if r.name == "adapters.unit_observers"]
    assert len(warnings) == 1
    assert "hold_a_unit" in warnings[0].getMessage()
    assert warnings[0].request_id == "req-held-1"  # type: ignore[attr-defined]
    assert (
        sample("stockroom_units_of_work_held_too_long_total", use_case="hold_a_unit")
        == held_before + 1
    )


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recording() as exporter:
        yield exporter


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


async def test_a_committed_unit_is_a_child_of_its_use_case(
    exporter: InMemorySpanExporter,
) -> None:
    await observed_unit(UnitSpans(), "committed")

    spans = finished(exporter)
    (use_case_span,) = named(spans, "use case observed_unit")
    (unit,) = children(spans, use_case_span)
    assert unit.name == UNIT
    assert unit.attributes == {"use_case": "observed_unit", "outcome": "committed"}
    assert event_names(unit) == ["commit"]
    assert unit.status.status_code is StatusCode.UNSET


async def test_a_unit_left_without_commit_rolls_back_without_error(
    exporter: InMemorySpanExporter,
) -> None:
    spans_observer = UnitSpans()
    spans_observer.closed(spans_observer.opened(), "rolled_back", None)

    (unit,) = named(finished(exporter), UNIT)
    assert unit.parent is None  # no use case around it: a trace of its own
    assert unit.attributes == {"use_case": "unnamed", "outcome": "rolled_back"}
    assert event_names(unit) == ["rollback"]
    assert unit.status.status_code is StatusCode.UNSET


async def test_a_unit_ended_by_an_exception_is_an_error_named_by_type_only(
    exporter: InMemorySpanExporter,
) -> None:
    await observed_unit(UnitSpans(), "failed", UnknownItem(404))

    (unit,) = named(finished(exporter), UNIT)
    assert unit.attributes is not None
    assert unit.attributes["outcome"] == "failed"
    assert unit.attributes["error.type"] == "domain.errors.UnknownItem"
    assert event_names(unit) == ["rollback"]
    assert unit.status.status_code is StatusCode.ERROR
    assert unit.status.description == "UnknownItem"  # not its message: it may quote data


async def test_the_unit_is_the_current_span_while_open_and_not_after(
    exporter: InMemorySpanExporter,
) -> None:
    before = trace.get_current_span()
    spans_observer = UnitSpans()
    opened = spans_observer.opened()
    inside = trace.get_current_span()
    spans_observer.closed(opened, "committed", None)

    assert inside is not before
    assert trace.get_current_span() is before


async def test_a_span_not_recorded_is_never_made_current() -> None:
    # Outside ``recording()`` every span is dropped, as in a process without a provider: the
    # observer then leaves the context alone (no attach, no detach).
    before = trace.get_current_span()
    spans_observer = UnitSpans()
    opened = spans_observer.opened()
    assert trace.get_current_span() is before
    spans_observer.closed(opened, "committed", None)


def test_the_observer_attached_is_what_is_on() -> None:
    assert unit_observer(metrics=False, warn_after=None, traces=False) is None
    assert isinstance(unit_observer(metrics=True, warn_after=5.0, traces=False), UnitMetrics)
    assert isinstance(unit_observer(metrics=False, warn_after=None, traces=True), UnitSpans)
    both = unit_observer(metrics=True, warn_after=None, traces=True)
    assert isinstance(both, Observers)
    assert [type(observer) for observer in both.observers] == [UnitMetrics, UnitSpans]


async def test_both_observers_see_every_unit(exporter: InMemorySpanExporter) -> None:
    committed = outcome("observed_both", "committed")
    both = Observers([UnitMetrics(), UnitSpans()])

    @use_case
    async def observed_both() -> None:
        both.closed(both.opened(), "committed", None)

    await observed_both()

    assert outcome("observed_both", "committed") == committed + 1
    (use_case_span,) = named(finished(exporter), "use case observed_both")
    assert [span.name for span in children(finished(exporter), use_case_span)] == [UNIT]
