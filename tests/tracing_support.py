"""Spans for the tests that look at traces, without touching the others.

The service layer's spans (use case, unit of work) come from OpenTelemetry's global tracer
provider, which a process may set only once. So the first test that records spans installs
``PROVIDER`` as the global one for the rest of the run, and its sampler drops every span
begun outside ``recording()``: for all other tests a span stays non-recording (a unit of work
then does no context work at all, as with tracing off) and nothing is kept in memory.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes


class _OnlyWhileRecording(Sampler):
    def __init__(self) -> None:
        self.on = False

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if self.on:
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "OnlyWhileRecording"


_SAMPLER = _OnlyWhileRecording()
_EXPORTER = InMemorySpanExporter()
PROVIDER = TracerProvider(sampler=_SAMPLER, shutdown_on_exit=False)
PROVIDER.add_span_processor(SimpleSpanProcessor(_EXPORTER))


@functools.cache
def _installed() -> None:
    trace.set_tracer_provider(PROVIDER)
    # Fails here, not in a confusing span count, if something else got there first.
    assert trace.get_tracer_provider() is PROVIDER, "another tracer provider is global"


@contextmanager
def recording() -> Iterator[InMemorySpanExporter]:
    """Every span ended inside the block, in ``exporter.get_finished_spans()``."""
    _installed()
    _EXPORTER.clear()
    _SAMPLER.on = True
    try:
        yield _EXPORTER
    finally:
        _SAMPLER.on = False
        _EXPORTER.clear()


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


def children(spans: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """The spans whose parent is ``parent``, in the order they ended."""
    return [
        span
        for span in spans
        if span.parent is not None
        and parent.context is not None
        and span.parent.span_id == parent.context.span_id
    ]


def event_names(span: ReadableSpan) -> list[str]:
    return [event.name for event in span.events]
