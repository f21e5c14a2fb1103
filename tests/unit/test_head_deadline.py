"""The deadline for a request's head inside uvicorn's protocol (slowloris), with a deadline of
50 ms and no socket: when its clock starts and stops, what the client gets past it, and that
it leaves no timer behind. The real server: tests/integration/test_http_edges.py."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from tests.unit.protocol_support import HEAD_SECONDS, App, Connection

REQUEST = b"GET /items/ HTTP/1.1\r\nHost: x\r\n\r\n"
PAST_IT = HEAD_SECONDS * 1.5


async def test_a_trickled_head_gets_a_json_408_and_the_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    connection = Connection()
    connection.protocol.data_received(b"GET /items/ HTTP/1.1\r\nHost: x\r\n")

    # Each line comes in time for the one before it; the head as a whole does not.
    for _ in range(3):
        await asyncio.sleep(HEAD_SECONDS / 2)
        connection.feed(b"X-Slow: 1\r\n", 100)

    assert connection.transport.closed
    head, _, body = connection.transport.written.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"content-type: application/json" in head
    assert json.loads(body) == {"detail": "the request head did not arrive within 0.05 seconds"}
    assert connection.app.requests == 0
    assert "closed a slow request from 127.0.0.1:5000: its head did not arrive" in caplog.text
    assert not connection.protocol.head_deadline.running


async def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    connection = Connection()

    await asyncio.sleep(PAST_IT)

    assert connection.transport.closed
    assert connection.transport.written == b""
    assert "closed an idle connection from 127.0.0.1:5000: no request within 0.05 s" in caplog.text


async def test_a_head_in_time_is_served_and_its_deadline_stopped() -> None:
    connection = Connection()
    connection.feed(REQUEST, 5)
    await connection.settled()

    assert not connection.protocol.head_deadline.running
    await asyncio.sleep(PAST_IT)  # idle on keep-alive: uvicorn's timeout_keep_alive decides

    assert not connection.transport.closed
    assert connection.status_lines() == [b"HTTP/1.1 200 OK"]


async def test_on_keep_alive_the_next_heads_clock_starts_at_its_first_byte() -> None:
    connection = Connection()
    connection.feed(REQUEST, 1000)
    await connection.settled()
    await asyncio.sleep(PAST_IT)
    assert not connection.protocol.head_deadline.running

    connection.feed(b"GET /items/ HTTP/1.1\r\n", 1000)
    assert connection.protocol.head_deadline.running
    await asyncio.sleep(PAST_IT)

    assert connection.transport.closed
    assert connection.status_lines() == [b"HTTP/1.1 200 OK", b"HTTP/1.1 408 Request Timeout"]


async def test_empty_lines_after_a_response_do_not_hold_the_connection_open() -> None:
    # Each read cancels uvicorn's keep-alive timer; an empty line starts no request.
    connection = Connection()
    connection.feed(REQUEST, 1000)
    await connection.settled()

    for _ in range(3):
        connection.feed(b"\r\n", 2)
        await asyncio.sleep(HEAD_SECONDS / 2)

    assert connection.transport.closed
    assert connection.status_lines() == [b"HTTP/1.1 200 OK"]


async def test_a_late_head_behind_an_unfinished_response_only_closes() -> None:
    # Pipelining: a 408 written now would land before the first request's answer.
    app = App()
    app.hold.clear()
    connection = Connection(app)

    connection.feed(REQUEST + b"GET /items/ HTTP/1.1\r\n", 1000)
    await asyncio.sleep(PAST_IT)

    assert connection.transport.closed
    assert connection.transport.written == b""
    app.hold.set()
    await connection.settled()


async def test_the_clock_waits_while_uvicorn_is_not_reading() -> None:
    connection = Connection()
    connection.feed(b"GET /items/ HTTP/1.1\r\n", 1000)
    connection.protocol.flow.pause_reading()  # as when a pipelined request waits its turn

    await asyncio.sleep(PAST_IT)
    assert not connection.transport.closed
    connection.protocol.flow.resume_reading()
    await asyncio.sleep(PAST_IT)

    assert connection.status_lines() == [b"HTTP/1.1 408 Request Timeout"]


async def test_no_timer_outlives_its_connection() -> None:
    connection = Connection()
    connection.feed(b"GET /items/ HTTP/1.1\r\n", 1000)
    assert connection.protocol.head_deadline.running

    connection.lose()

    assert not connection.protocol.head_deadline.running
    await asyncio.sleep(PAST_IT)
    assert connection.transport.written == b""
