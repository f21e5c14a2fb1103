"""The header size limit inside uvicorn's protocol, fed byte strings as the event loop would
feed them (no socket): where the limit falls, how early an endless header or trailer is cut
off, that header and trailer bytes count against one limit, that no trailer reaches the app,
and that a read carrying another request's body is never held against the next one's headers.
The real server over real sockets: tests/integration/test_header_limit.py and
tests/integration/test_http_edges.py."""

from __future__ import annotations

import json

import pytest

from tests.unit.protocol_support import LIMIT, App, Connection


def header_section(size: int, *, end: bool = True) -> bytes:
    """A GET whose header section is ``size`` bytes long, request line included."""
    start = b"GET /items/ HTTP/1.1\r\nHost: x\r\nX-Padding: "
    padding = size - len(start) - len(b"\r\n\r\n")
    return start + b"a" * padding + (b"\r\n\r\n" if end else b"")


@pytest.mark.parametrize("read_size", [1000, 64 * 1024])
async def test_a_header_section_within_the_limit_reaches_the_app(read_size: int) -> None:
    connection = Connection()

    connection.feed(header_section(LIMIT), read_size)
    await connection.settled()

    assert not connection.transport.written.startswith(b"HTTP/1.1 431")
    assert connection.app.requests == 1


@pytest.mark.parametrize("read_size", [1000, 64 * 1024])
async def test_a_header_section_over_the_limit_is_refused_with_a_json_431(
    read_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    connection = Connection()

    connection.feed(header_section(LIMIT + 100), read_size)
    await connection.settled()

    assert connection.refused
    assert connection.transport.closed
    head, _, body = connection.transport.written.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head
    assert json.loads(body) == {"detail": f"request header fields are larger than {LIMIT} bytes"}
    assert connection.app.requests == 0
    assert "exceed STOCKROOM_MAX_HEADER_BYTES (8192 bytes)" in caplog.text


async def test_an_endless_header_is_cut_off_within_one_read_of_the_limit() -> None:
    connection = Connection()
    read_size = 1000
    fed = 0

    connection.protocol.data_received(header_section(200, end=False))
    while not connection.transport.closed and fed < 100 * LIMIT:
        connection.protocol.data_received(b"a" * read_size)
        fed += read_size

    assert connection.refused
    assert fed <= LIMIT + read_size


async def test_a_read_ending_another_requests_body_is_not_counted_as_headers() -> None:
    # Pipelining: one read holds the end of a large body and the start of the next request.
    connection = Connection()
    body = b"b" * (4 * LIMIT)
    post = b"POST /items/ HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    connection.protocol.data_received(post)

    connection.protocol.data_received(body + b"GET /items/ HTTP/1.1\r\nHost: x\r\nX-A: a")
    connection.protocol.data_received(b"a\r\n\r\n")
    await connection.settled()

    assert not connection.refused
    assert connection.app.requests == 2


async def test_keep_alive_requests_are_each_measured_on_their_own() -> None:
    connection = Connection()
    keep_alive = header_section(LIMIT - 100)

    for _ in range(3):
        connection.feed(keep_alive, 3000)
        await connection.settled()

    assert not connection.refused
    assert connection.app.requests == 3


CHUNKED_POST = b"POST /orders/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunked(body: bytes, trailers: bytes = b"", chunk_size: int = 1000) -> bytes:
    """``body`` in chunks, then the last chunk and ``trailers`` (CRLF-ended lines)."""
    chunks = [
        b"%x\r\n%s\r\n" % (len(body[at : at + chunk_size]), body[at : at + chunk_size])
        for at in range(0, len(body), chunk_size)
    ]
    return b"".join(chunks) + b"0\r\n" + trailers + b"\r\n"


async def test_trailers_never_reach_the_app_and_the_request_is_served() -> None:
    connection = Connection()
    trailers = b"Authorization: Bearer forged\r\nX-Checksum: 1234\r\n"

    connection.feed(CHUNKED_POST + chunked(b"hello world", trailers), 16)
    await connection.settled()

    assert connection.status_lines() == [b"HTTP/1.1 200 OK"]
    assert connection.app.bodies == [b"hello world"]
    assert connection.app.headers == [{b"host": b"x", b"transfer-encoding": b"chunked"}]


@pytest.mark.parametrize("read_size", [1000, 64 * 1024])
async def test_an_endless_trailer_is_cut_off_within_one_read_of_the_limit(read_size: int) -> None:
    connection = Connection()
    connection.protocol.data_received(CHUNKED_POST + b"5\r\nhello\r\n0\r\nX-Trailer: ")
    fed = 0

    while not connection.transport.closed and fed < 100 * LIMIT:
        connection.protocol.data_received(b"a" * read_size)
        fed += read_size
    await connection.settled()

    assert connection.transport.closed
    assert fed <= LIMIT + read_size
    head, _, body = connection.transport.written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ")
    detail = f"request header and trailer fields are larger than {LIMIT} bytes"
    assert json.loads(body) == {"detail": detail}
    assert connection.status_lines() == [b"HTTP/1.1 431 Request Header Fields Too Large"]


@pytest.mark.parametrize("read_size", [500, 64 * 1024])
async def test_header_and_trailer_bytes_count_against_one_limit(read_size: int) -> None:
    # Each section alone is under the limit; together they are over it.
    connection = Connection()
    padding = b"X-Padding: " + b"a" * (LIMIT // 2) + b"\r\n"
    request = CHUNKED_POST.replace(b"\r\n\r\n", b"\r\n" + padding + b"\r\n")

    connection.feed(request + chunked(b"hello", padding), read_size)
    await connection.settled()

    assert connection.refused
    assert connection.transport.closed
    assert connection.status_lines() == [b"HTTP/1.1 431 Request Header Fields Too Large"]


async def test_many_small_trailer_fields_in_the_last_read_count_too() -> None:
    connection = Connection()
    fields = b"".join(b"X-T%d: %s\r\n" % (n, b"v" * 90) for n in range(LIMIT // 90))

    connection.feed(CHUNKED_POST + chunked(b"hello", fields), 256 * 1024)
    await connection.settled()

    assert connection.refused


async def test_a_chunked_body_is_never_counted_as_trailers() -> None:
    # Chunk size lines and chunk data in reads of their own: only reads after a chunk header
    # that yield no body are trailer bytes.
    connection = Connection()
    body = b"b" * (8 * LIMIT)

    connection.protocol.data_received(CHUNKED_POST)
    for piece in chunked(body, chunk_size=3000).split(b"\r\n"):
        connection.protocol.data_received(piece)
        connection.protocol.data_received(b"\r\n")
    await connection.settled()

    assert connection.status_lines() == [b"HTTP/1.1 200 OK"]
    assert connection.app.bodies == [body]


async def test_a_trailer_over_the_limit_after_the_app_answered_only_closes() -> None:
    # The app began its response before the body ended: a 431 now would follow its 200.
    connection = Connection(App(read_body=False))
    connection.protocol.data_received(CHUNKED_POST + b"5\r\nhello\r\n")
    await connection.settled()

    connection.feed(b"0\r\nX-Trailer: " + b"a" * 2 * LIMIT, 1000)

    assert connection.transport.closed
    assert connection.status_lines() == [b"HTTP/1.1 200 OK"]
