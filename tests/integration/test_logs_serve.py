"""JSON logs from a real ``stockroom serve --workers 2``: every line the server writes (the
supervisor's, each worker's, uvicorn's access lines, tracebacks) is one JSON object, and the
lines of a request carry its id, including the traceback of a 500 that uvicorn logs after the
app has returned. The 500 is a real one: the schema changed under the running server (a
column renamed by hand), which no error mapping turns into anything else.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.servers import live_client, stockroom_serve
from tests.polling import eventually

SECRET_KEY = "logs-signing-key-" + "0123456789abcdef" * 3
BAD_TOKEN = "not.a-token-SECRET-MARKER-5e0d"
WORKERS = 2
FIELDS = {"time", "level", "logger", "message", "request_id", "pid"}


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    return tmp_path / "stockroom.db"


@pytest.fixture
def server(tmp_path: Path, database_file: Path) -> Iterator[str]:
    settings = {
        "STOCKROOM_DATABASE_URL": f"sqlite+aiosqlite:///{database_file}",
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        "STOCKROOM_LOG_FORMAT": "json",
    }
    with stockroom_serve(settings, tmp_path, workers=WORKERS) as base:
        yield base


def server_log(folder: Path) -> Path:
    (path,) = folder.glob("serve-*.log")  # stockroom_serve's stdout and stderr
    return path


def parsed(path: Path) -> list[dict[str, Any]]:
    """Every complete line so far, parsed; a line that is not one JSON object fails the test.
    (The server is still writing: the text after the last newline may be half a line.)"""
    complete = path.read_text().split("\n")[:-1]
    lines = [json.loads(line) for line in complete]
    assert all(isinstance(line, dict) for line in lines)
    return lines


def of_request(lines: list[dict[str, Any]], request_id: str) -> dict[str, dict[str, Any]]:
    """The lines of one request by logger (the last of each)."""
    return {line["logger"]: line for line in lines if line["request_id"] == request_id}


def has_all(path: Path, wanted: dict[str, set[str]]) -> bool:
    lines = parsed(path)
    return all(loggers <= of_request(lines, id_).keys() for id_, loggers in wanted.items())


def workers_started(lines: list[dict[str, Any]]) -> set[int]:
    return {
        line["pid"]
        for line in lines
        if line["logger"] == "uvicorn.error"
        and line["message"].startswith("Started server process")
    }


def break_the_schema(database_file: Path) -> None:
    """What a bad manual change does: the code's queries name a column that is gone."""
    with sqlite3.connect(database_file) as connection:
        connection.execute("ALTER TABLE items RENAME COLUMN title TO title_gone")


async def test_every_line_is_json_and_a_requests_lines_carry_its_id(
    server: str, tmp_path: Path, database_file: Path
) -> None:
    async with live_client(base_url=server, timeout=30) as client:
        ok = await client.get("/items/", headers={"X-Request-ID": "logs-ok"})
        assert ok.status_code == 200
        bad = {"Authorization": f"Bearer {BAD_TOKEN}", "X-Request-ID": "logs-401"}
        assert (await client.get("/users/me", headers=bad)).status_code == 401
        break_the_schema(database_file)
        broken = await client.get("/items/", headers={"X-Request-ID": "logs-500"})
        assert broken.status_code == 500, broken.text
        assert broken.headers["X-Request-ID"] == "logs-500"

    log = server_log(tmp_path)
    # uvicorn logs the traceback after the response is sent, and the server answers as soon
    # as one worker is up: wait for the lines of the requests, and for each worker's first
    # line (each applies the same configuration, so each announces itself in JSON).
    access, errors, app_errors = "uvicorn.access", "uvicorn.error", "entrypoints.api.errors"
    wanted = {
        "logs-ok": {access},
        "logs-401": {access, app_errors},
        "logs-500": {access, errors},
    }
    await eventually(
        lambda: has_all(log, wanted) and len(workers_started(parsed(log))) == WORKERS,
        seconds=30,
    )

    lines = parsed(log)
    assert all(line.keys() >= FIELDS for line in lines)
    ok_lines = of_request(lines, "logs-ok")
    assert ok_lines[access]["message"].endswith('"GET /items/ HTTP/1.1" 200')

    refused = of_request(lines, "logs-401")
    assert refused[app_errors]["message"] == "401: invalid or expired token"
    assert refused[access]["message"].endswith('"GET /users/me HTTP/1.1" 401')

    failed = of_request(lines, "logs-500")
    assert failed[access]["message"].endswith('"GET /items/ HTTP/1.1" 500')
    traceback = failed[errors]
    assert traceback["level"] == "ERROR"
    assert traceback["message"].startswith("Exception in ASGI application")
    assert "no such column" in traceback["exception"]

    assert BAD_TOKEN not in log.read_text()
