"""What ``stockroom serve`` refuses before starting a server (entrypoints/cli/servers.py):
only what Granian cannot honour, and nothing under uvicorn."""

from __future__ import annotations

from dataclasses import replace

import pytest

from entrypoints.cli.servers import (
    DEFAULT_SERVER,
    WORKER_START_SECONDS,
    ServeOptions,
    Server,
    refusal,
    run,
)

OPTIONS = ServeOptions(
    host="127.0.0.1",
    port=8000,
    workers=2,
    graceful_timeout=25,
    keep_alive=5,
    log_config=None,
    max_header_bytes=64 * 1024,
)


def test_uvicorn_stays_the_default_until_the_measurements_say_otherwise() -> None:
    assert DEFAULT_SERVER is Server.uvicorn


@pytest.mark.parametrize("server", list(Server))
def test_the_defaults_are_refused_by_neither_server(server: Server) -> None:
    assert refusal(server, OPTIONS) is None


@pytest.mark.parametrize(
    ("changed", "said"),
    [
        ({"graceful_timeout": 0}, "--graceful-timeout 0 is not possible under granian"),
        ({"max_header_bytes": 8191}, "STOCKROOM_MAX_HEADER_BYTES=8191 is not possible"),
    ],
)
def test_granian_refuses_what_it_cannot_honour_and_uvicorn_takes_it(
    changed: dict[str, int], said: str
) -> None:
    options = replace(OPTIONS, **changed)

    assert said in (refusal(Server.granian, options) or "")
    assert refusal(Server.uvicorn, options) is None


def test_granian_takes_its_smallest_header_limit() -> None:
    assert refusal(Server.granian, replace(OPTIONS, max_header_bytes=8192)) is None


def test_uvicorn_gives_a_starting_worker_time_on_a_busy_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn's supervisor kills a worker that has not started within its health-check
    timeout; its 5 s default killed workers on a busy host (issue 23)."""
    given: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda _app, **options: given.update(options))

    run(Server.uvicorn, "app:factory", OPTIONS)

    assert given["timeout_worker_healthcheck"] == WORKER_START_SECONDS
    assert WORKER_START_SECONDS >= 15  # several times a loaded start (about 2.5 s here)
    assert given["workers"] == OPTIONS.workers
