"""Tracing as the app factory sets it up from the environment, in a process of its own (the
global tracer provider can be set once per process): with no OTLP endpoint nothing is
configured at all; with one, a request's spans reach an OTLP/HTTP collector, flushed at exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from adapters.database import Database
from tests.conftest import TEST_SECRET_KEY

# Builds the app as uvicorn's workers do, sends one registration through it, and reports
# what tracing looks like in this process; the SDK flushes its spans as the process exits.
SERVE_ONE_REQUEST = """
import asyncio, json, sys
import httpx
from opentelemetry import trace
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from entrypoints.api.app import create_app_from_env

app = create_app_from_env()

async def register() -> int:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        body = {"email": "traced@example.com", "password": "a long enough password"}
        status = (await client.post("/users/", json=body)).status_code
    await app.state.container.database().dispose()
    return status

status = asyncio.run(register())
print(json.dumps({
    "status": status,
    "provider": type(trace.get_tracer_provider()).__name__,
    "sdk_imported": "opentelemetry.sdk.trace" in sys.modules,
    "engines_instrumented": SQLAlchemyInstrumentor().is_instrumented_by_opentelemetry,
    "app_instrumented": getattr(app, "_is_instrumented_by_opentelemetry", False),
}))
"""


def serve_one_request(database_url: str, **otel: str) -> dict[str, Any]:
    """Run ``SERVE_ONE_REQUEST`` with only the given ``OTEL_*`` variables set."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("STOCKROOM_", "OTEL_"))
    }
    env |= {"STOCKROOM_DATABASE_URL": database_url, "STOCKROOM_SECRET_KEY": TEST_SECRET_KEY}
    env |= otel
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", SERVE_ONE_REQUEST],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["status"] == 201, done.stderr
    return report


def test_without_an_endpoint_nothing_is_configured(
    sqlite_database: Database, sqlite_url: str
) -> None:
    report = serve_one_request(sqlite_url)

    assert report["provider"] == "ProxyTracerProvider"  # the API's no-op stand-in
    assert report["sdk_imported"] is False
    assert report["engines_instrumented"] is False
    assert report["app_instrumented"] is False


class Collector(ThreadingHTTPServer):
    """The OTLP/HTTP trace endpoint of a collector: keeps every export request it receives."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.received: list[tuple[str, bytes]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> tuple[list[Span], set[str]]:
        """Every span received, and the service names they came from."""
        spans: list[Span] = []
        services: set[str] = set()
        for _path, body in self.received:
            for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
                for attribute in resource_spans.resource.attributes:
                    if attribute.key == "service.name":
                        services.add(attribute.value.string_value)
                for scope_spans in resource_spans.scope_spans:
                    spans.extend(scope_spans.spans)
        return spans, services


class _Receive(BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test reads what was received


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_with_an_endpoint_a_request_reaches_the_collector_as_one_tree(
    sqlite_database: Database, sqlite_url: str, collector: Collector
) -> None:
    report = serve_one_request(sqlite_url, OTEL_EXPORTER_OTLP_ENDPOINT=collector.endpoint)

    assert report["provider"] == "TracerProvider"
    assert report["engines_instrumented"] is True
    assert {path for path, _ in collector.received} == {"/v1/traces"}
    spans, services = collector.spans()
    assert services == {"stockroom"}
    by_name = {span.name: span for span in spans}
    # A sign-up is counted against its address (a use case of its own), then registered.
    request, sign_up, register = (
        by_name["POST /users/"],
        by_name["use case sign_up"],
        by_name["use case register"],
    )
    assert sign_up.parent_span_id == request.span_id
    assert register.parent_span_id == sign_up.span_id
    (unit,) = [
        s for s in spans if s.name == "unit of work" and s.parent_span_id == register.span_id
    ]
    assert [event.name for event in unit.events] == ["commit"]
    units = {s.span_id for s in spans if s.name == "unit of work"}
    inserts = [span for span in spans if span.name.startswith("INSERT")]
    assert {span.parent_span_id for span in inserts} <= units  # every write inside a unit
    assert unit.span_id in {span.parent_span_id for span in inserts}  # the user's row
    assert {span.trace_id for span in spans} == {request.trace_id}  # one tree
