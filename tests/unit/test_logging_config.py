"""Logs through the real logging configuration (``entrypoints.logging_config``): one JSON
object per line with the request id, uvicorn's lines included, tracebacks inside the line, and
a refused request's reason without the token, the password or the body.

Each test applies the configuration to this process (as uvicorn and ``create_app_from_env``
do) and puts the loggers it touched back as they were afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextvars import Token
from datetime import datetime
from typing import Any

import httpx
import pytest
from uvicorn.config import LOGGING_CONFIG as UVICORN_DEFAULT_LOGGING

from domain.user import PASSWORD_MAX_LENGTH
from entrypoints.api.request_id import request_id
from entrypoints.logging_config import OWN_LOGGERS, UVICORN_CHILDREN, configure_logging
from service_layer.services import items as item_services
from tests.api_support import Account

Configure = Callable[..., None]
TEXT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) (?P<logger>\S+) "
    r"\[request (?P<request_id>\S+)\] (?P<message>.*)$"
)
# What uvicorn logs, as uvicorn's protocols call it (uvicorn/protocols/http/h11_impl.py).
ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'
ASGI_EXCEPTION = "Exception in ASGI application\n"


@pytest.fixture
def configure(capsys: pytest.CaptureFixture[str]) -> Iterator[Configure]:
    """``configure_logging`` (its handler writes to the captured stderr); restores after."""
    loggers = [logging.getLogger(name) for name in (None, *OWN_LOGGERS, *UVICORN_CHILDREN)]
    saved = [(each, each.level, list(each.handlers), each.propagate) for each in loggers]

    yield configure_logging
    logging.captureWarnings(False)
    for logger, level, handlers, propagate in saved:
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        for handler in handlers:
            logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def json_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every line written so far, each parsed as one JSON object (a line that is not fails)."""
    lines = capsys.readouterr().err.splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(each, dict) for each in parsed), lines
    return parsed


def in_request(id_: str) -> Token[str]:
    """The request id as the middleware sets it, for code logging inside a request."""
    return request_id.set(id_)


def test_a_json_line_parses_with_the_fields_and_the_request_id(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("json", "INFO")
    token = in_request("req-json-1")
    try:
        logging.getLogger("adapters.unit_observers").warning(
            "held for %.1f s", 5.0, extra={"use_case": "restock"}
        )
    finally:
        request_id.reset(token)

    (line,) = json_lines(capsys)
    assert line["level"] == "WARNING"
    assert line["logger"] == "adapters.unit_observers"
    assert line["message"] == "held for 5.0 s"
    assert line["request_id"] == "req-json-1"
    assert line["use_case"] == "restock"
    assert line["pid"] == os.getpid()
    assert datetime.fromisoformat(line["time"]).utcoffset() is not None  # ISO 8601 with a zone
    assert "exception" not in line


def test_outside_a_request_the_id_is_null_in_json_and_a_dash_in_text(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("json", "INFO")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
    (line,) = json_lines(capsys)
    assert line["request_id"] is None

    configure("text", "INFO")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 1)
    found = TEXT_LINE.match(capsys.readouterr().err.strip())
    assert found is not None
    assert found["request_id"] == "-"
    assert found["message"] == "Started server process [1]"


def test_a_text_line_carries_the_request_id(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("text", "INFO")
    token = in_request("req-text-1")
    try:
        logging.getLogger("entrypoints.api.errors").info("401: %s", "invalid or expired token")
    finally:
        request_id.reset(token)
    found = TEXT_LINE.match(capsys.readouterr().err.strip())
    assert found is not None
    assert found.groupdict() == {
        "level": "INFO",
        "logger": "entrypoints.api.errors",
        "request_id": "req-text-1",
        "message": "401: invalid or expired token",
    }


def test_a_traceback_is_inside_its_json_line_with_the_request_id(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("json", "INFO")
    token = in_request("req-traceback")
    try:
        raise RuntimeError("injected: a bug in a service")
    except RuntimeError as error:
        logging.getLogger("uvicorn.error").error(ASGI_EXCEPTION, exc_info=error)
    finally:
        request_id.reset(token)

    (line,) = json_lines(capsys)
    assert line["level"] == "ERROR"
    assert line["logger"] == "uvicorn.error"
    assert line["request_id"] == "req-traceback"
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: injected: a bug in a service" in line["exception"]


def test_uvicorns_access_line_is_json_with_the_id_and_no_colour_codes(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("json", "INFO")
    token = in_request("req-access")
    try:
        access = logging.getLogger("uvicorn.access")
        access.info(ACCESS_FORMAT, "127.0.0.1:50000", "GET", "/items/?limit=5", "1.1", 200)
        colourful = {"color_message": "Started \x1b[1mserver\x1b[0m"}
        logging.getLogger("uvicorn.error").info("Started server", extra=colourful)
    finally:
        request_id.reset(token)

    access_line, started = json_lines(capsys)
    assert access_line["logger"] == "uvicorn.access"
    assert access_line["message"] == '127.0.0.1:50000 - "GET /items/?limit=5 HTTP/1.1" 200'
    assert access_line["request_id"] == "req-access"
    assert "color_message" not in started


def test_applied_after_uvicorns_default_it_takes_over_uvicorns_loggers(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    """``create_app_from_env`` under a plain ``uvicorn --factory``: uvicorn's own configuration
    is in place first. Every uvicorn line must then come out once, in our format."""
    logging.config.dictConfig(UVICORN_DEFAULT_LOGGING)
    configure("json", "INFO")
    logging.getLogger("uvicorn.access").info(ACCESS_FORMAT, "c", "GET", "/", "1.1", 204)
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    assert [line["logger"] for line in json_lines(capsys)] == ["uvicorn.access", "uvicorn.error"]


def test_the_level_applies_to_ours_and_uvicorns_libraries_stay_at_warning(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("json", "WARNING")
    logging.getLogger("entrypoints.api.errors").info("401: hidden at WARNING")
    logging.getLogger("uvicorn.access").info(ACCESS_FORMAT, "c", "GET", "/", "1.1", 200)
    logging.getLogger("adapters.database").warning("shown")
    assert [line["message"] for line in json_lines(capsys)] == ["shown"]

    configure("json", "DEBUG")
    logging.getLogger("entrypoints.api.errors").debug("422: shown at DEBUG")
    # A driver logging each call with its arguments (aiosqlite does, at DEBUG): never shown.
    logging.getLogger("aiosqlite").debug("executing ('secret@example.com', '$argon2id$...')")
    logging.getLogger("aiosqlite").warning("a library's warning")
    messages = [line["message"] for line in json_lines(capsys)]
    assert messages == ["422: shown at DEBUG", "a library's warning"]


def test_a_python_warning_becomes_a_json_line(
    configure: Configure, capsys: pytest.CaptureFixture[str]
) -> None:
    configure("json", "INFO")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's deprecation", DeprecationWarning, stacklevel=1)
    (line,) = json_lines(capsys)
    assert line["logger"] == "py.warnings"
    assert "DeprecationWarning: a library's deprecation" in line["message"]


# A refused request, through the app (fake unit of work): its line says why, never with the
# token, the password or the body.

BAD_TOKEN = "not.a-token-SECRET-MARKER-7f3a"
WRONG_PASSWORD = "wrong-password-SECRET-MARKER-91c2"
EMAIL = "someone-PERSONAL-MARKER@example.com"
LONG_PASSWORD = "too-long-SECRET-MARKER-" + "x" * PASSWORD_MAX_LENGTH
UNKNOWN_SKU = "CLIENT-INPUT-MARKER"


def _refusals(lines: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [
        (line["level"], line["message"], line["request_id"])
        for line in lines
        if line["logger"] == "entrypoints.api.errors"
    ]


async def test_refused_requests_say_why_without_the_token_password_or_body(
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    client: httpx.AsyncClient,
    customer: Account,
) -> None:
    configure("json", "DEBUG")
    bad_token = {"Authorization": f"Bearer {BAD_TOKEN}", "X-Request-ID": "req-401"}
    assert (await client.get("/users/me", headers=bad_token)).status_code == 401
    login = {"username": EMAIL, "password": WRONG_PASSWORD}
    refused = await client.post("/token", data=login, headers={"X-Request-ID": "req-login"})
    assert refused.status_code == 400
    forbidden = {**customer.headers, "X-Request-ID": "req-403"}
    assert (await client.post("/items/", json={}, headers=forbidden)).status_code == 403
    too_long = {"email": EMAIL, "password": LONG_PASSWORD}
    invalid = await client.post("/users/", json=too_long, headers={"X-Request-ID": "req-422"})
    assert invalid.status_code == 422
    order = {"lines": [{"sku": UNKNOWN_SKU, "quantity": 1}]}
    unknown = {**customer.headers, "X-Request-ID": "req-sku"}
    assert (await client.post("/orders/", json=order, headers=unknown)).status_code == 422

    written = capsys.readouterr().err
    lines = [json.loads(line) for line in written.splitlines()]
    assert _refusals(lines) == [
        ("INFO", "401: invalid or expired token", "req-401"),
        ("INFO", "400: invalid_grant", "req-login"),
        ("INFO", "403: admins only", "req-403"),
        ("DEBUG", "422: body.password: too_long", "req-422"),
        ("DEBUG", "422: UnknownSku on lines", "req-sku"),
    ]
    for secret in (BAD_TOKEN, WRONG_PASSWORD, LONG_PASSWORD, EMAIL, UNKNOWN_SKU, customer.token):
        assert secret not in written


async def test_the_id_outlives_a_request_that_raised_for_the_servers_traceback(
    configure: Configure,
    capsys: pytest.CaptureFixture[str],
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uvicorn logs an unhandled exception after the app has returned, in the request's own
    task: the id must still be set there. A request that completes leaves nothing behind."""

    async def broken(*_: object, **__: object) -> None:
        raise RuntimeError("injected: a bug in a service")

    async def as_uvicorn_runs_a_request() -> str | None:
        try:
            await client.get("/items/1", headers={"X-Request-ID": "req-500"})
        except RuntimeError as error:  # what uvicorn's run_asgi does with it
            logging.getLogger("uvicorn.error").error(ASGI_EXCEPTION, exc_info=error)
        return request_id.get(None)

    configure("json", "INFO")
    monkeypatch.setattr(item_services, "get_item", broken)
    # Its own task, as uvicorn gives each request (and so the id stays out of this test's).
    assert await asyncio.create_task(as_uvicorn_runs_a_request()) == "req-500"
    (line,) = json_lines(capsys)
    assert line["request_id"] == "req-500"
    assert "RuntimeError: injected: a bug in a service" in line["exception"]

    monkeypatch.undo()
    before = request_id.get(None)
    assert (await client.get("/items/", headers={"X-Request-ID": "req-ok"})).status_code == 200
    assert request_id.get(None) == before != "req-ok"
