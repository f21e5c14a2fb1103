"""Request headers over ``STOCKROOM_MAX_HEADER_BYTES`` (64 KiB) against a real
``stockroom serve``, over raw sockets (an HTTP client library would refuse to send them).

Finding 5 of issue 14: a 32 MiB header was read to the end and held in memory. Now a header
section over the limit gets a 431 and the connection is closed, the server logs one line
saying why, a 32 MiB one is cut off after a read or two instead of being buffered, and the
next normal request is served as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.database import Database
from tests.integration.servers import (
    exchange_raw,
    memory_kib,
    port_of,
    serve_logs,
    stockroom_serve,
    stream_endless_field,
)

SECRET_KEY = "headers-signing-key-" + "0123456789abcdef" * 3
KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: the connection closed without a response
    body: bytes


def _request(padding: int, path: str = "/health/live") -> bytes:
    """A GET whose header section is about ``padding`` bytes long, in one header field."""
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"X-Padding: {'a' * padding}\r\n\r\n"
    ).encode()


def _answer(raw: bytes) -> Answer:
    if not raw.startswith(b"HTTP/1.1 "):
        return Answer(None, raw)
    head, _, body = raw.partition(b"\r\n\r\n")
    return Answer(int(head.split(b" ", 2)[1]), body)


def _exchange(port: int, request: bytes) -> Answer:
    """Send ``request`` and read until the server closes; a reset loses what it loses."""
    return _answer(exchange_raw(port, request))


def _stream_header(port: int, total: int) -> int:
    """One header value of ``total`` bytes."""
    opening = b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Padding: "
    return stream_endless_field(port, opening, total)


def _settings(database: Database) -> dict[str, str]:
    return {
        "STOCKROOM_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
    }


@pytest.fixture
def two_workers(fresh_database: Database, tmp_path: Path) -> Iterator[str]:
    with stockroom_serve(_settings(fresh_database), tmp_path, workers=2) as base:
        yield base


def test_a_normal_8_kib_header_is_served(two_workers: str) -> None:
    answer = _exchange(port_of(two_workers), _request(8 * KIB, "/items/"))

    assert answer.status == 200
    assert json.loads(answer.body) == []


def test_a_128_kib_header_is_refused_and_the_server_serves_the_next_request(
    two_workers: str, tmp_path: Path
) -> None:
    port = port_of(two_workers)

    refused = _exchange(port, _request(128 * KIB))

    # The whole request fits in the socket buffers, so the answer is read before the close.
    assert refused.status == 431
    assert json.loads(refused.body) == {
        "detail": "request header fields are larger than 65536 bytes"
    }
    assert "header fields exceed STOCKROOM_MAX_HEADER_BYTES (65536 bytes)" in serve_logs(tmp_path)
    assert _exchange(port, _request(100, "/items/")).status == 200


def test_a_32_mib_header_is_cut_off_early_without_buffering_it(
    fresh_sqlite: Database, tmp_path: Path
) -> None:
    # One worker: the server process is the one that reads the request, and says its pid.
    with stockroom_serve(_settings(fresh_sqlite), tmp_path, workers=1) as base:
        found = re.search(r"Started server process \[(\d+)\]", serve_logs(tmp_path))
        assert found is not None
        pid = int(found.group(1))
        peak_before = memory_kib(pid, "VmHWM")

        sent = _stream_header(port_of(base), 32 * MIB)

        # The server stopped reading soon after 64 KiB: what it took is what the kernel's
        # buffers held (a few MiB on loopback), never the 32 MiB. And it cut the connection
        # off: one it merely stopped reading would fail this test on the socket's timeout.
        assert sent < 16 * MIB
        assert memory_kib(pid, "VmHWM") - peak_before < 16 * KIB  # KiB: under 16 MiB grown
        assert _exchange(port_of(base), _request(100, "/items/")).status == 200
