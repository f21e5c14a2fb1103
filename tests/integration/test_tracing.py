"""One request, one trace, on SQLite and PostgreSQL: the request's span, its use case's span,
the unit of work's span and the spans of the SQL statements the unit ran, each the child of
the one before, with the route, the use case and the outcome on them.

The app and the database are instrumented with the tests' own provider (tests/tracing_support)
by the same ``instrument`` the app factory calls, and uninstrumented after each test, so no
listener or middleware outlives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dependency_injector import providers
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from adapters.database import Database
from adapters.unit_observers import UnitSpans
from entrypoints.api.app import create_app
from entrypoints.container import dispose
from entrypoints.tracing import engines_of, instrument
from tests.api_support import api_client, build_test_container, make_account
from tests.factories import item_payload
from tests.integration.failure_support import container_on
from tests.tracing_support import PROVIDER, children, event_names, named, recording


@dataclass(frozen=True)
class Traced:
    client: httpx.AsyncClient
    exporter: InMemorySpanExporter

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def request(self, name: str) -> ReadableSpan:
        """The one server span called ``name`` (method and route template)."""
        (span,) = [span for span in named(self.spans(), name) if span.kind is SpanKind.SERVER]
        return span


@pytest.fixture
async def traced(database: Database) -> AsyncIterator[Traced]:
    container = container_on(database)
    admin = await make_account(container, admin=True)
    app = create_app(container)
    container.unit_observer.override(providers.Object(UnitSpans()))  # as with OTLP configured
    instrument(app, container, PROVIDER)
    try:
        with recording() as exporter:
            async with api_client(app) as client:
                client.headers.update(admin.headers)  # catalog writes are an admin's
                yield Traced(client, exporter)
    finally:
        FastAPIInstrumentor.uninstrument_app(app)
        SQLAlchemyInstrumentor().uninstrument()


def statements(spans: list[ReadableSpan], parent: ReadableSpan) -> list[str]:
    """The SQL of the statement spans under ``parent``, directly or through a connect span."""
    found = []
    for span in children(spans, parent):
        attributes = span.attributes or {}
        if "db.statement" in attributes:
            found.append(str(attributes["db.statement"]))
        found.extend(statements(spans, span))
    return found


async def test_a_write_is_one_tree_down_to_its_sql(traced: Traced, database: Database) -> None:
    response = await traced.client.post("/items/", json=item_payload())
    assert response.status_code == 201, response.text

    spans = traced.spans()
    request = traced.request("POST /items/")
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/items/"
    assert request.attributes["http.status_code"] == 201
    # Authentication runs a use case of its own first (get_active_user), a sibling.
    (use_case,) = named(children(spans, request), "use case add_item")
    assert use_case.attributes == {"use_case": "add_item"}
    (unit,) = children(spans, use_case)
    assert unit.name == "unit of work"
    assert unit.attributes == {"use_case": "add_item", "outcome": "committed"}
    assert event_names(unit) == ["commit"]
    sql = statements(spans, unit)
    assert any(statement.startswith("INSERT INTO items") for statement in sql), sql
    # The item's item.created event is written by the same unit, in its transaction (issue 25).
    assert any(statement.startswith("INSERT INTO outbox") for statement in sql), sql
    (insert,) = [
        span
        for span in spans
        if str((span.attributes or {}).get("db.statement", "")).startswith("INSERT INTO items")
    ]
    assert insert.kind is SpanKind.CLIENT
    assert insert.attributes is not None
    assert insert.attributes["db.system"] == database.dialect
    # One trace: every span of the request shares its trace id.
    assert request.context is not None
    tree = [unit, use_case, insert]
    assert {span.context.trace_id for span in tree if span.context} == {request.context.trace_id}


async def test_a_unit_rolled_back_by_an_error_is_an_error_span(traced: Traced) -> None:
    payload = item_payload()
    assert (await traced.client.post("/items/", json=payload)).status_code == 201
    traced.exporter.clear()

    response = await traced.client.post("/items/", json=payload)  # the same SKU again
    assert response.status_code == 409

    spans = traced.spans()
    request = traced.request("POST /items/")
    assert request.status.status_code is not StatusCode.ERROR  # a 4xx is the client's error
    (use_case,) = named(children(spans, request), "use case add_item")
    (unit,) = children(spans, use_case)
    assert unit.status.status_code is StatusCode.ERROR
    assert unit.status.description == "DuplicateSku"
    assert unit.attributes is not None
    assert unit.attributes["outcome"] == "failed"
    assert event_names(unit) == ["rollback"]
    # The rejected INSERT is under the unit, in error too.
    (insert,) = [span for span in spans if str(span.name).startswith("INSERT")]
    assert insert in children(spans, unit) or any(
        insert in children(spans, child) for child in children(spans, unit)
    )
    assert insert.status.status_code is StatusCode.ERROR


async def test_a_read_runs_its_statement_inside_its_use_case(
    traced: Traced, database: Database
) -> None:
    """On SQLite too, where the statement runs on the reader's thread in the caller's context."""
    created = (await traced.client.post("/items/", json=item_payload())).json()
    traced.exporter.clear()

    response = await traced.client.get(f"/items/{created['id']}")
    assert response.status_code == 200

    spans = traced.spans()
    # The instrumentation names the span by the route as it matches, convertor included
    # (entrypoints/api/paths.py); metrics label it by the documented template.
    request_span = traced.request("GET /items/{item_id:signed}")
    (use_case,) = named(children(spans, request_span), "use case get_item")
    sql = statements(spans, use_case)
    assert any(statement.startswith("SELECT") for statement in sql), sql


async def test_probes_and_scrapes_are_not_traced(traced: Traced) -> None:
    for path in ("/health/live", "/health/ready"):  # metrics: not on this port (http_metrics)
        assert (await traced.client.get(path)).status_code == 200, path
    assert (await traced.client.get("/items/")).status_code == 200

    assert {span.name for span in traced.spans() if span.kind is SpanKind.SERVER} == {"GET /items/"}


async def test_every_pool_of_a_database_has_its_engine_instrumented(tmp_path: Path) -> None:
    # Built, never connected: no server needs to answer at these addresses.
    nowhere = "postgresql+asyncpg://stockroom@127.0.0.1:9/nothing"
    built = [
        (build_test_container(f"sqlite+aiosqlite:///{tmp_path / 'traced.db'}"), 2),  # units, reader
        (build_test_container(nowhere, replica_urls=[nowhere, nowhere]), 3),  # primary, replicas
    ]
    for container, expected in built:
        try:
            engines = engines_of(container)
            assert len(engines) == expected
            replicas = container.replicas()
            pools = container.database().pools() + [
                engine.pool for engine in (replicas.engines() if replicas else {}).values()
            ]
            assert {id(engine.pool) for engine in engines} == {id(pool) for pool in pools}
        finally:
            await dispose(container)
