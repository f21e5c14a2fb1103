"""The edges of HTTP against a real ``stockroom serve`` (uvicorn, the default server), over raw
sockets: trailers of a chunked request and the time a request's head may take (issue 26,
F1, F2 and F14; the protocol's logic: tests/unit/test_header_guard.py and
tests/unit/test_head_deadline.py).

The trailer that must not authenticate goes through the database (a user, a token): it runs
on SQLite and on PostgreSQL. The limit and the deadline act in the server's protocol before
any request reaches the app, so their tests run on SQLite only.
"""

from __future__ import annotations

import json
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
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

SECRET_KEY = "http-edges-signing-key-" + "0123456789abcdef" * 3
KIB = 1024
MIB = 1024 * KIB
HEAD_SECONDS = 1.0


def _settings(database: Database, **more: str) -> dict[str, str]:
    return {
        "STOCKROOM_DATABASE_URL": database.url.render_as_string(hide_password=False),
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        **more,
    }


def _status(raw: bytes) -> int | None:
    """The status of the first response in ``raw``; None when there is none."""
    found = re.match(rb"HTTP/1\.1 (\d{3}) ", raw)
    return int(found.group(1)) if found else None


def _chunked(body: bytes, trailers: bytes) -> bytes:
    return b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, trailers)


# F1 and F2: trailers


def _stream_trailer(port: int, total: int) -> int:
    """A chunked POST whose one trailer field is ``total`` bytes long."""
    head = b"POST /users/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    return stream_endless_field(port, head + b"2\r\n{}\r\n0\r\nX-Trailer: ", total)


def test_a_100_mib_trailer_is_cut_off_near_the_limit_and_memory_stays_flat(
    fresh_sqlite: Database, tmp_path: Path
) -> None:
    # One worker: the server process is the one that reads the request, and says its pid.
    with stockroom_serve(_settings(fresh_sqlite), tmp_path, workers=1) as base:
        found = re.search(r"Started server process \[(\d+)\]", serve_logs(tmp_path))
        assert found is not None
        pid = int(found.group(1))
        resident_before, peak_before = memory_kib(pid, "VmRSS"), memory_kib(pid, "VmHWM")

        sent = _stream_trailer(port_of(base), 100 * MIB)

        # What the server took is what the kernel's buffers held (a few MiB on loopback),
        # never the 100 MiB; one it merely stopped reading would fail on the socket timeout.
        # Measured: 2.9 MiB sent, VmRSS and VmHWM 114.5 -> 115.1 MiB (before: 105 -> 301).
        assert sent < 16 * MIB
        assert memory_kib(pid, "VmRSS") - resident_before < 16 * KIB  # KiB: under 16 MiB
        assert memory_kib(pid, "VmHWM") - peak_before < 16 * KIB
        assert "trailer fields exceed STOCKROOM_MAX_HEADER_BYTES (65536" in serve_logs(tmp_path)
        next_one = b"GET /items/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        assert _status(exchange_raw(port_of(base), next_one)) == 200


@pytest.fixture
def server(fresh_database: Database, tmp_path: Path) -> Iterator[str]:
    with stockroom_serve(_settings(fresh_database), tmp_path, workers=1) as base:
        yield base


def _chunked_sign_up(port: int, email: str, password: str) -> bytes:
    """Registration as a chunked POST with a trailer no one asked for (no ``Trailer``)."""
    body = json.dumps({"email": email, "password": password}).encode()
    head = (
        b"POST /users/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return exchange_raw(port, head + _chunked(body, b"X-Checksum: 5f3a\r\n"))


def _sign_in(server: str, email: str, password: str) -> httpx.Response:
    credentials = {"username": email, "password": password}
    return httpx.post(f"{server}/token", data=credentials, timeout=60)


def test_a_chunked_request_with_a_small_trailer_is_served(server: str) -> None:
    email, password = f"chunked-{secrets.token_hex(4)}@example.com", secrets.token_hex(12)

    signed_up = _chunked_sign_up(port_of(server), email, password)

    assert _status(signed_up) == 201, signed_up
    assert _sign_in(server, email, password).status_code == 200


def test_an_authorization_sent_only_as_a_trailer_does_not_authenticate(server: str) -> None:
    email, password = f"trailer-{secrets.token_hex(4)}@example.com", secrets.token_hex(12)
    registered = httpx.post(
        f"{server}/users/", json={"email": email, "password": password}, timeout=60
    )
    assert registered.status_code == 201, registered.text
    login = _sign_in(server, email, password)
    authorization = b"Authorization: Bearer %s\r\n" % login.json()["access_token"].encode()
    head = b"GET /users/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"

    as_header = exchange_raw(port_of(server), head + authorization + b"\r\n")
    as_trailer = exchange_raw(
        port_of(server), head + b"Transfer-Encoding: chunked\r\n\r\n0\r\n" + authorization + b"\r\n"
    )

    assert _status(as_header) == 200  # the token is good
    assert _status(as_trailer) == 401, as_trailer


# F14: the request head's deadline


@pytest.fixture
def quick_deadline(fresh_sqlite: Database, tmp_path: Path) -> Iterator[int]:
    settings = _settings(fresh_sqlite, STOCKROOM_REQUEST_HEAD_SECONDS=str(HEAD_SECONDS))
    with stockroom_serve(settings, tmp_path, workers=1) as base:
        yield port_of(base)


def _until_closed(connection: socket.socket, trickle: bytes | None, seconds: float) -> bytes:
    """Read until the server closes (for at most ``seconds``), sending ``trickle`` whenever
    0.3 s pass with nothing to read; what was read."""
    received = b""
    connection.settimeout(0.3)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = connection.recv(64 * KIB)
        except TimeoutError:
            if trickle is not None and not received:
                connection.sendall(trickle)
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        received += chunk
    return received


def _response(connection: socket.socket) -> bytes:
    """One response with a Content-Length, read from a connection that stays open."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += connection.recv(64 * KIB)
    head, _, body = received.partition(b"\r\n\r\n")
    found = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
    assert found is not None
    while len(body) < int(found.group(1)):
        body += connection.recv(64 * KIB)
    return head + b"\r\n\r\n" + body


def test_a_trickled_head_gets_408_and_the_close_after_the_deadline(
    quick_deadline: int, tmp_path: Path
) -> None:
    with socket.create_connection(("127.0.0.1", quick_deadline), timeout=10) as connection:
        started = time.monotonic()
        connection.sendall(b"GET /items/ HTTP/1.1\r\nHost: x\r\n")
        received = _until_closed(connection, b"X-Slow: 1\r\n", 10)
        took = time.monotonic() - started

    assert _status(received) == 408, received
    assert json.loads(received.partition(b"\r\n\r\n")[2]) == {
        "detail": "the request head did not arrive within 1 seconds"
    }
    assert HEAD_SECONDS * 0.9 < took < HEAD_SECONDS + 2
    assert "closed a slow request from 127.0.0.1:" in serve_logs(tmp_path)


def test_a_connection_that_sends_nothing_is_closed(quick_deadline: int) -> None:
    with socket.create_connection(("127.0.0.1", quick_deadline), timeout=10) as connection:
        started = time.monotonic()
        received = _until_closed(connection, None, 10)
        took = time.monotonic() - started

    assert received == b""
    assert HEAD_SECONDS * 0.9 < took < HEAD_SECONDS + 2


def test_keep_alive_requests_and_heads_sent_in_time_are_unaffected(quick_deadline: int) -> None:
    request = b"GET /items/ HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", quick_deadline), timeout=10) as connection:
        connection.sendall(request)
        first = _response(connection)
        time.sleep(HEAD_SECONDS * 1.5)  # idle between requests: keep-alive's (5 s), not ours
        for piece in (request[:10], request[10:25], request[25:]):
            connection.sendall(piece)
            time.sleep(HEAD_SECONDS / 4)
        second = _response(connection)

    assert (_status(first), _status(second)) == (200, 200)
