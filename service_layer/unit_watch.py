"""Each unit of work from enter to exit, as the metrics and the held-session warning see it.

A unit holds a database connection from its first statement until it ends, so one that stays
open is the usual cause of a pool running dry: past ``warn_after`` seconds it logs one warning
(with the use case, where it was opened, and, through the logging filter, the request id) and
counts in ``stockroom_units_of_work_held_too_long``. The timer costs one entry in the event
loop's schedule per unit, cancelled at exit.

With tracing on (``entrypoints/tracing.py``), each unit is also a span: ``UnitSpan``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from types import FrameType

from opentelemetry import context, trace

from service_layer.metrics import UNIT_OUTCOMES, UNIT_SECONDS, UNITS_HELD_TOO_LONG, UNITS_OPEN
from service_layer.use_cases import current_use_case

log = logging.getLogger(__name__)
# A no-op until a tracer provider is configured (entrypoints/tracing.py), as in use_cases.
_tracer = trace.get_tracer("stockroom.service_layer")


class OpenUnit:
    __slots__ = ("_started", "_timer", "opened_at", "use_case")

    def __init__(self, warn_after: float | None, opener: FrameType | None) -> None:
        self.use_case = current_use_case.get() or "unnamed"
        # The line of the `async with`, kept as code and line: a string only if it is needed.
        self.opened_at = (opener.f_code, opener.f_lineno) if opener is not None else None
        self._started = time.perf_counter()
        self._timer = None
        if warn_after is not None:
            self._timer = asyncio.get_running_loop().call_later(warn_after, self._held, warn_after)
        UNITS_OPEN.inc()

    def _held(self, warn_after: float) -> None:
        UNITS_HELD_TOO_LONG.labels(self.use_case).inc()
        where = "unknown"
        if self.opened_at is not None:
            code, line = self.opened_at
            where = f"{code.co_filename}:{line} in {code.co_name}"
        log.warning(
            "a unit of work of %s has been open for more than %g s (opened at %s); "
            "it holds a database connection",
            self.use_case,
            warn_after,
            where,
        )

    def closed(self, outcome: str) -> None:
        """``outcome``: committed, rolled_back or failed."""
        if self._timer is not None:
            self._timer.cancel()
        UNITS_OPEN.dec()
        UNIT_SECONDS.labels(self.use_case).observe(time.perf_counter() - self._started)
        UNIT_OUTCOMES.labels(self.use_case, outcome).inc()


class UnitSpan:
    """The unit of work's span in a trace: a child of its use case's span, the parent of the
    spans of the statements it runs, with a "commit" event, a "rollback" event when it ends
    without one, the ``outcome`` the metrics count, and an error status when it ends through
    an exception.

    The error is named by its type only: the message of a driver error can quote the SQL's
    parameters (a customer's email, a password hash), and a trace leaves the process.
    With tracing off the span is the API's no-op and is never made current: no context work.
    """

    __slots__ = ("_committed", "_span", "_token")

    def __init__(self) -> None:
        self._committed = False
        self._span = _tracer.start_span(
            "unit of work", attributes={"use_case": current_use_case.get() or "unnamed"}
        )
        # Current while the unit is open, so the statements it runs are its children. The
        # unit is entered and left in the same task, so the token is detached where it was
        # attached.
        self._token = (
            context.attach(trace.set_span_in_context(self._span))
            if self._span.is_recording()
            else None
        )

    def committed(self) -> None:
        self._committed = True
        self._span.add_event("commit")

    def ended(self, outcome: str, error: BaseException | None) -> None:
        """``outcome`` as ``OpenUnit.closed`` has it; ``error``: what leaves the block."""
        if self._token is not None:
            context.detach(self._token)
        if self._span.is_recording():
            if not self._committed:
                self._span.add_event("rollback")
            self._span.set_attribute("outcome", outcome)
            if error is not None:
                kind = type(error)
                self._span.set_attribute("error.type", f"{kind.__module__}.{kind.__qualname__}")
                self._span.set_status(trace.StatusCode.ERROR, kind.__name__)
        self._span.end()
