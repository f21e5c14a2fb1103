"""OpenTelemetry traces, exported over OTLP when an endpoint is configured.

One request is one trace: the request's span (opentelemetry-instrumentation-fastapi), the use
case's span (``service_layer.use_cases``, with a "retry" event per transient conflict), the
unit of work's span (``adapters.unit_observers.UnitSpans``, which the container attaches to
every unit: commit or rollback, outcome, error status) and one span per SQL statement
(opentelemetry-instrumentation-sqlalchemy, on every engine of the database and replicas).
That instrumentation also wraps each checkout of a pooled connection in a "connect" span:
when a pool runs dry, its length is the wait for one.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set:
then nothing is configured or even imported here, no middleware or SQLAlchemy listener is
added, units of work carry no span observer, and the use cases open no span. The other
standard variables apply as usual (``OTEL_SERVICE_NAME``, ``OTEL_TRACES_SAMPLER``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``, ``OTEL_PYTHON_FASTAPI_EXCLUDED_URLS``...).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opentelemetry import trace

# The SDK, the exporter and the instrumentations are imported only when tracing is on: a
# process without an endpoint never loads them.
if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from sqlalchemy.engine import Engine

    from entrypoints.container import Container

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
DEFAULT_SERVICE_NAME = "stockroom"
# Probes come every few seconds to every worker and a trace of one says nothing: left out,
# unless the standard variables name the URLs to leave out instead. (Metrics are scraped from
# a listener of their own, which is not the app: nothing to leave out there.)
EXCLUDED_URLS_VARIABLES = ("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", "OTEL_PYTHON_EXCLUDED_URLS")
UNTRACED_BY_DEFAULT = "/health/"


def traces_exported() -> bool:
    """Whether an OTLP endpoint is configured: then units of work are spans too."""
    return any(os.environ.get(name) for name in ENDPOINT_VARIABLES)


def trace_when_configured(app: FastAPI, container: Container) -> None:
    """With an OTLP endpoint in the environment: install the exporting provider as the
    process's own (the service layer's spans find it there) and instrument ``app`` and the
    container's database. Without one: nothing.

    Called once per worker process, after it has started (uvicorn builds the app in each
    worker), so the batch exporter's thread belongs to the process that uses it.
    """
    if not traces_exported():
        return
    provider = exporting_provider()
    trace.set_tracer_provider(provider)
    instrument(app, container, provider)


def exporting_provider() -> TracerProvider:
    """The SDK provider sending spans in batches over OTLP/HTTP, from a background thread: a
    request never waits for the collector. At exit, the SDK flushes what is still queued."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def instrument(app: FastAPI, container: Container, provider: trace.TracerProvider) -> None:
    """Spans for ``app``'s requests and for every statement the container's database and
    replicas run, on ``provider`` (passed explicitly, so a test can instrument with a
    provider of its own)."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    # Without the ASGI "http send"/"http receive" spans: two or three per request that say
    # nothing the request's own span does not, and would bury the use case beneath them.
    configured = any(os.environ.get(name) for name in EXCLUDED_URLS_VARIABLES)
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        excluded_urls=None if configured else UNTRACED_BY_DEFAULT,  # None: the variables'
        exclude_spans=["receive", "send"],
    )
    # Its declared range ends below SQLAlchemy 2.1, which it otherwise refuses to instrument;
    # the events it listens to are unchanged, and tests/integration/test_tracing.py shows
    # the statement spans on the SQLAlchemy we pin.
    SQLAlchemyInstrumentor().instrument(
        engines=engines_of(container), tracer_provider=provider, skip_dep_check=True
    )


def engines_of(container: Container) -> list[Engine]:
    """Every engine that runs statements: the units' (with the read port's on PostgreSQL),
    the SQLite reader's, and each replica's."""
    replicas = container.replicas()
    engines = container.database().engines() | (replicas.engines() if replicas else {})
    return list(engines.values())
