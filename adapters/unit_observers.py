"""What watches the units of work from outside: metrics with the held-session warning, and
trace spans. The container attaches them to the real unit (``UnitObserver`` in
``adapters.unit_of_work``): with metrics and traces off, a unit calls nothing of this.

A unit holds a database connection from its first statement until it ends, so one that stays
open is the usual cause of a pool running dry: past ``warn_after`` seconds ``UnitMetrics``
logs one warning (with the use case and, through the logging filter, the request id) and
counts it in ``stockroom_units_of_work_held_too_long``. Its timer costs one entry in the
event loop's schedule per unit, cancelled at exit. Served at ``GET /metrics``; docs/operations.md
("Metrics") says what each metric is for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from contextvars import Token

from opentelemetry import context, trace
from opentelemetry.context import Context
from prometheus_client import Counter, Gauge, Histogram

from adapters.unit_of_work import UnitObserver
from service_layer.use_cases import current_use_case

log = logging.getLogger(__name__)
# A no-op until a tracer provider is configured (entrypoints/tracing.py).
_tracer = trace.get_tracer("stockroom.service_layer")

UNITS_OPEN = Gauge(
    "stockroom_units_of_work_open",
    "Units of work open right now (each holds a connection from its first statement on).",
    multiprocess_mode="livesum",
)
UNIT_SECONDS = Histogram(
    "stockroom_unit_of_work_seconds",
    "How long units of work were open, from enter to exit.",
    ["use_case"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNIT_OUTCOMES = Counter(
    "stockroom_units_of_work",
    "Units of work by how they ended: committed, rolled_back (left without a commit), failed "
    "(left through an error).",
    ["use_case", "outcome"],
)
UNITS_HELD_TOO_LONG = Counter(
    "stockroom_units_of_work_held_too_long",
    "Units of work still open after STOCKROOM_UOW_WARN_SECONDS (each also logs a warning).",
    ["use_case"],
)

_Opened = tuple[str, float, asyncio.TimerHandle | None]


class UnitMetrics:
    """Units open, their durations and outcomes by use case, and the held-session warning
    (``warn_after`` seconds; ``None``: no warning)."""

    def __init__(self, warn_after: float | None = None) -> None:
        self.warn_after = warn_after

    def opened(self) -> _Opened:
        use_case = current_use_case.get() or "unnamed"
        timer = None
        if self.warn_after is not None:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self.warn_after, _held, use_case, self.warn_after)
        UNITS_OPEN.inc()
        return use_case, time.perf_counter(), timer

    def closed(self, opened: _Opened, outcome: str, error: BaseException | None) -> None:
        use_case, started, timer = opened
        if timer is not None:
            timer.cancel()
        UNITS_OPEN.dec()
        UNIT_SECONDS.labels(use_case).observe(time.perf_counter() - started)
        UNIT_OUTCOMES.labels(use_case, outcome).inc()


def _held(use_case: str, warn_after: float) -> None:
    UNITS_HELD_TOO_LONG.labels(use_case).inc()
    log.warning(
        "a unit of work of %s has been open for more than %g s; it holds a database connection",
        use_case,
        warn_after,
    )


class UnitSpans:
    """Each unit a span: a child of its use case's span, the parent of the spans of the
    statements it runs, with a "commit" or "rollback" event, the ``outcome`` the metrics
    count, and an error status when it ends through an exception.

    The error is named by its type only: the message of a driver error can quote the SQL's
    parameters (a customer's email, a password hash), and a trace leaves the process.
    """

    def opened(self) -> tuple[trace.Span, Token[Context] | None]:
        span = _tracer.start_span(
            "unit of work", attributes={"use_case": current_use_case.get() or "unnamed"}
        )
        # Current while the unit is open, so the statements it runs are its children (a span
        # that is not recorded is left out of the context). The unit is entered and left in
        # the same task: the token is detached where it was made.
        recorded = span.is_recording()
        return span, context.attach(trace.set_span_in_context(span)) if recorded else None

    def closed(
        self,
        opened: tuple[trace.Span, Token[Context] | None],
        outcome: str,
        error: BaseException | None,
    ) -> None:
        span, token = opened
        if token is None:
            span.end()
            return
        context.detach(token)
        span.add_event("commit" if outcome == "committed" else "rollback")
        span.set_attribute("outcome", outcome)
        if error is not None:
            kind = type(error)
            span.set_attribute("error.type", f"{kind.__module__}.{kind.__qualname__}")
            span.set_status(trace.StatusCode.ERROR, kind.__name__)
        span.end()


class Observers:
    """Several observers as one (metrics and traces, both on)."""

    def __init__(self, observers: Sequence[UnitObserver]) -> None:
        self.observers = tuple(observers)

    def opened(self) -> list[object]:
        return [observer.opened() for observer in self.observers]

    def closed(self, opened: list[object], outcome: str, error: BaseException | None) -> None:
        for observer, watch in zip(self.observers, opened, strict=True):
            observer.closed(watch, outcome, error)


def unit_observer(*, metrics: bool, warn_after: float | None, traces: bool) -> UnitObserver | None:
    """What the container attaches to every unit: ``None`` when nothing watches."""
    chosen: list[UnitObserver] = []
    if metrics:
        chosen.append(UnitMetrics(warn_after))
    if traces:
        chosen.append(UnitSpans())
    if len(chosen) > 1:
        return Observers(chosen)
    return chosen[0] if chosen else None
