"""Which use case is running: the name its units of work report in metrics, in the
held-session warning and in the trace span that holds everything it does.

Every use case is decorated with ``@use_case``. The name travels in a context variable, as the
request id does: a unit of work opened anywhere inside the use case knows whose it is, without
every service passing it along.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import ParamSpec, TypeVar

from opentelemetry import trace

P = ParamSpec("P")
T = TypeVar("T")

current_use_case: ContextVar[str] = ContextVar("stockroom_use_case", default="")
# A no-op until a tracer provider is configured (entrypoints/tracing.py): then one span per run.
_tracer = trace.get_tracer("stockroom.service_layer")


def use_case(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    name = function.__name__

    @functools.wraps(function)
    async def run(*args: P.args, **kwargs: P.kwargs) -> T:
        token = current_use_case.set(name)
        # No tracer provider set up: no span at all (even a no-op one costs ~5 us).
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            try:
                return await function(*args, **kwargs)
            finally:
                current_use_case.reset(token)
        try:
            # Not the exception itself on the span: a driver's message can quote parameters.
            with _tracer.start_as_current_span(
                f"use case {name}",
                attributes={"use_case": name},
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    return await function(*args, **kwargs)
                except Exception as error:
                    span.set_status(trace.StatusCode.ERROR, type(error).__name__)
                    raise
        finally:
            current_use_case.reset(token)

    run.use_case = name  # type: ignore[attr-defined]  # for the inventory test of use cases
    return run
