"""Scenario 7, hostile input: whatever a client sends, the answer is a 4xx that conforms to the
API's own schema (never a 5xx), and a refused request stores nothing.

Two halves, each on SQLite and on PostgreSQL (the ``database`` fixture):

1. Schemathesis generates requests for every operation of the app's own OpenAPI document,
   valid ones and ones that violate the schema, with an admin's bearer token. Every response
   is checked (``CHECKS`` below says which checks and why).
2. Explicit attacks on every string field of ``POST /items/``, ``PUT /items/{id}``,
   ``POST /users/``, ``POST /token`` and ``POST /orders/``: oversized, deeply nested and
   malformed bodies, huge integers, NaN and Infinity, NUL, lone surrogates, bidi and
   zero-width characters, very long strings and SQL injection. Row counts are read with raw
   SQL before and after.

What is refused and what is accepted (the decisions this file pins down):

- NUL and lone surrogates are refused everywhere (422; 400 invalid_grant at login, where any
  bad credential is one answer): PostgreSQL cannot store NUL and UTF-8 cannot encode a surrogate.
- Zero-width characters (U+200B, U+200D, U+FEFF), combining marks and astral characters are
  legitimate text in titles, descriptions and passwords: accepted, and they must round-trip
  *exactly* (no normalisation, no stripping), through the API and in the stored row. Bidi
  controls (U+202E) are too in passwords; in item text they are refused (422), as are control
  characters (domain/text.py, issue 26 F22). An email containing them is refused (422): the
  email validator rejects unsafe characters. A SKU is ASCII by rule, so they are refused there.
- SQL-injection strings are text like any other: stored verbatim where free text is allowed
  (title, description, password, an Idempotency-Key without spaces), refused where the syntax
  excludes them (SKU, email: 422; login: 400). Either way every table is still there.
- Over 64 KiB of body is refused with 413 before it is parsed, whether announced by
  Content-Length or streamed chunked.
"""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from adapters.database import Database
from entrypoints.settings import Settings
from tests.api_support import ISSUED_PASSWORDS, Account, new_password
from tests.integration.failure_support import outside_connection

BASE_URL = "http://test"
TABLES = ("items", "users", "orders", "order_lines", "idempotency_keys")
REQUEST_TIMEOUT = 30  # seconds for one in-process request: generous, a hang still fails
# The body limit the app runs with here: the setting's default (no longer a constant of the app).
MAX_BODY_BYTES = Settings.model_fields["max_body_bytes"].default

# --- fixtures --------------------------------------------------------------------------------


# These tests send dozens of bad logins for one account on purpose, to see each refused the same
# way; throttling would answer 429 after five (test_login_throttle_api.py).
pytestmark = pytest.mark.settings(login_free_failures=1_000, login_free_failures_per_account=1_000)


async def row_counts(database: Database) -> dict[str, int]:
    """Rows per table, counted with raw SQL on a connection outside the pool under test."""
    counts = {}
    async with outside_connection(database) as connection:
        for table in TABLES:
            query = text(f"SELECT count(*) FROM {table}")  # noqa: S608 - our own table names
            counts[table] = int((await connection.execute(query)).scalar_one())
    return counts


async def stored_item(database: Database, item_id: int) -> dict[str, Any]:
    async with outside_connection(database) as connection:
        row = await connection.execute(
            text("SELECT sku, title, description FROM items WHERE id = :id"), {"id": item_id}
        )
        return dict(row.mappings().one())


async def seed_item(client: httpx.AsyncClient, admin: Account, **fields: Any) -> dict[str, Any]:
    payload = {"title": "seed", "price": 1, "quantity": 1_000_000, **fields}
    response = await client.post("/items/", json=payload, headers=admin.headers)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


# --- 1. generated requests against the app's own schema ----------------------------------------

# Why these checks:
# - not_a_server_error: the point of the scenario, no input may produce a 5xx.
# - status_code_conformance: every status a client can get is documented for that operation
#   (a generated SDK has no type for an undocumented status).
# - content_type_conformance, response_schema_conformance, response_headers_conformance: the
#   body (and headers) match what the document promises for that status, error bodies included.
# - negative_data_rejection (schema-violating requests only): what the schema forbids is
#   refused with a 4xx, never stored. This is the hostile-input check proper.
# Left out: positive_data_acceptance (a valid request may rightly get 401/404/409 here: random
# credentials, ids and SKUs), and the stateful checks (use_after_free, ensure_resource_
# availability, ignored_auth), which re-send requests through schemathesis' own transport.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]
EXAMPLES_PER_MODE = 12  # per operation and mode: the whole file stays well under a minute


def _wire_headers(headers: Any) -> list[tuple[bytes, bytes]] | None:
    """Headers as bytes on the wire, or ``None`` if no HTTP client could send them."""
    try:
        return [(k.encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()]
    except UnicodeEncodeError:
        return None


# These end every session of the account that calls them: they get an account of their own,
# so that the admin's token stays good for every other operation.
ENDS_SESSIONS = {"POST /users/me/logout-all", "POST /users/me/password"}


class Sender:
    """Sends a generated case to the app through the test's own httpx client.

    Hypothesis runs synchronously in a worker thread; each request is scheduled on the test's
    event loop, where the database's pooled connections live (schemathesis' ASGI transport would
    run the app on an event loop of its own, where asyncpg connections cannot be used).
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        expendable_auth: dict[str, str],
    ) -> None:
        self.loop = loop
        self.client = client
        self.auth = auth
        self.expendable_auth = expendable_auth  # for ENDS_SESSIONS
        self.sent: dict[str, int] = {}
        self.unsendable = 0

    def __call__(self, case: schemathesis.Case[Any]) -> httpx.Response | None:
        ends_sessions = case.operation.label in ENDS_SESSIONS
        auth = self.expendable_auth if ends_sessions else self.auth
        kwargs = case.as_transport_kwargs(base_url=BASE_URL, headers=auth)
        try:
            prepared = requests.Request(**kwargs).prepare()
        except (ValueError, requests.exceptions.RequestException):
            self.unsendable += 1  # not expressible as HTTP (e.g. a newline in a header)
            return None
        headers = _wire_headers(prepared.headers)
        if headers is None:
            self.unsendable += 1
            return None
        body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
        if not (body is None or isinstance(body, bytes)):
            self.unsendable += 1  # a streamed body: none of our operations takes one
            return None
        request = self.client.request(
            prepared.method or case.method,
            prepared.url or BASE_URL,
            headers=headers,
            content=body,
        )
        response = asyncio.run_coroutine_threadsafe(request, self.loop).result(REQUEST_TIMEOUT)
        label = case.operation.label
        self.sent[label] = self.sent.get(label, 0) + 1
        return response


def _fuzz(
    operation: schemathesis.APIOperation[Any, Any, Any, Any],
    strategy: st.SearchStrategy[schemathesis.Case[Any]],
    checks: list[Any],
    send: Sender,
) -> None:
    @settings(
        max_examples=EXAMPLES_PER_MODE,
        deadline=None,
        database=None,  # nothing written to the work tree; a failure prints its curl
        phases=[Phase.explicit, Phase.generate, Phase.shrink],  # no slow "explain" re-runs
        # Schema-violating generation filters a lot; max_examples is the bound that matters.
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def exercise(case: schemathesis.Case[Any]) -> None:
        response = send(case)
        if response is not None:
            case.validate_response(response, checks=checks, headers=dict(response.request.headers))

    exercise()


async def test_generated_requests_to_every_operation_get_documented_non_5xx_answers(
    app: FastAPI, client: httpx.AsyncClient, admin: Account, customer: Account
) -> None:
    """Schemathesis generates requests for every operation of the app's OpenAPI document.

    The document is the one the app serves at /openapi.json (``app.openapi()``), loaded with
    ``schemathesis.openapi.from_dict``: ``from_asgi`` would also run the app's lifespan on
    schemathesis' own event-loop thread, which would dispose this test's database at exit.
    """
    # Rows for the generated ids and SKUs to find: hypothesis favours small ids and short
    # strings, so items 1.. with SKUs "0" and "A" are hit often, and item 1 has an order.
    await seed_item(client, admin, sku="0")
    await seed_item(client, admin, sku="A")
    order = await client.post(
        "/orders/", json={"lines": [{"sku": "0", "quantity": 1}]}, headers=customer.headers
    )
    assert order.status_code == 201, order.text

    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    document = app.openapi()["paths"]
    documented = {
        f"{method.upper()} {path}" for path, methods in document.items() for method in methods
    }
    assert {operation.label for operation in operations} == documented
    # Schema-violating data needs something to violate: a parameter or a body.
    has_inputs = {
        f"{method.upper()} {path}"
        for path, methods in document.items()
        for method, spec in methods.items()
        if spec.get("parameters") or spec.get("requestBody")
    }

    # The customer is done with once the order above is placed.
    send = Sender(asyncio.get_running_loop(), client, admin.headers, customer.headers)
    failures: list[str] = []

    def run_all() -> None:
        # Every operation and mode runs even after a failure, so one run reports them all.
        for operation in operations:
            for mode, checks in (
                (GenerationMode.POSITIVE, CHECKS),
                (GenerationMode.NEGATIVE, NEGATIVE_CHECKS),
            ):
                if mode is GenerationMode.NEGATIVE and operation.label not in has_inputs:
                    continue
                try:
                    _fuzz(operation, operation.as_strategy(mode), checks, send)
                except (Exception, BaseExceptionGroup) as error:  # reported below, with the rest
                    failures.append(f"{operation.label} ({mode.value} data): {error}")

    await asyncio.to_thread(run_all)
    assert not failures, "\n\n".join(failures)
    assert send.unsendable * 10 <= sum(send.sent.values()), "most cases never reached the app"
    assert set(send.sent) == documented, (
        f"operations never exercised: {documented - set(send.sent)}"
    )


# --- 2. explicit attacks ---------------------------------------------------------------------

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}

NUL = "nul\x00byte"
LONE_SURROGATES = ("\ud800", "x\udfffy")  # travel as "\ud800" escapes: valid JSON syntax
SQL_INJECTION = (
    "'; DROP TABLE items; --",
    "' OR '1'='1",
    "1); DELETE FROM users; --",
    '" OR ""="',
    "'||(SELECT pg_sleep(5))||'",
)
# Legitimate text: bidi override, zero-width space/joiner, BOM, a combining accent (NFD, not
# to be normalised), an astral-plane character, right-to-left script.
UNUSUAL_TEXT = (
    "\u202egnp.exe\u202c",
    "zero\u200bwidth\u200djoiner\ufeff",
    "cafe\u0301",
    "\U0001d11e clef \U0001f600",
    "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
)
NOT_STORABLE = (NUL, *LONE_SURROGATES)
BIDI_OVERRIDE = UNUSUAL_TEXT[0]
# Refused in titles and descriptions alike (issue 26 F22): an escape sequence, a carriage
# return, a bidi override.
NOT_ONE_LINE = ("\x1b[31m", "\r", BIDI_OVERRIDE)


def as_json(payload: Any) -> bytes:
    """JSON as a hostile client writes it: NaN/Infinity literals allowed, and lone surrogates
    escaped (``ensure_ascii``), which no UTF-8 encoder could otherwise produce."""
    return json.dumps(payload, allow_nan=True).encode()


async def refused(
    database: Database,
    request: Awaitable[httpx.Response],
    *,
    expected: int | None = None,
    json_error: bool = True,
) -> httpx.Response:
    """Send ``request`` (not yet started: counts are read first); it must get a 4xx
    (``expected`` if given) with a JSON ``detail`` and store nothing.

    ``json_error=False`` only for 413s, whose body has a test of its own below.
    """
    before = await row_counts(database)
    response = await request
    sent = response.request
    try:
        where = f"{sent.method} {sent.url.path} {sent.content[:120]!r}"
    except httpx.RequestNotRead:  # a streamed body
        where = f"{sent.method} {sent.url.path} (streamed body)"
    assert 400 <= response.status_code < 500, f"{where}: {response.status_code} {response.text}"
    if expected is not None:
        assert response.status_code == expected, f"{where}: {response.status_code} {response.text}"
    if json_error:
        assert "detail" in response.json(), f"{where}: {response.text}"
    assert await row_counts(database) == before, f"{where} was refused but stored something"
    return response


async def chunked(body: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    """The body as a stream without Content-Length (chunked transfer encoding)."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def write_endpoints(item_id: int) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(method, path, content type) of every route that reads a body."""
    yield "POST", "/items/", JSON
    yield "PUT", f"/items/{item_id}", JSON
    yield "POST", f"/items/{item_id}/restock", JSON
    yield "POST", "/users/", JSON
    yield "POST", "/token", FORM
    yield "POST", "/orders/", JSON


async def test_oversized_bodies_are_refused_with_413_and_store_nothing(
    client: httpx.AsyncClient, database: Database, admin: Account
) -> None:
    item = await seed_item(client, admin, sku="BIG")
    huge_title = as_json({"title": "x" * (MAX_BODY_BYTES + 10)})
    huge_form = b"username=a%40example.com&password=" + b"x" * (MAX_BODY_BYTES + 10)
    for method, path, content_type in write_endpoints(item["id"]):
        body = huge_form if content_type is FORM else huge_title
        headers = {**admin.headers, **content_type}
        await refused(
            database,
            client.request(method, path, content=body, headers=headers),
            expected=413,
            json_error=False,
        )
        await refused(
            database,
            client.request(method, path, content=chunked(body), headers=headers),
            expected=413,
            json_error=False,
        )
    assert (await client.get(f"/items/{item['id']}")).json() == item


async def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not(
    client: httpx.AsyncClient, database: Database, admin: Account, customer: Account
) -> None:
    """The limit is on bytes, not on what they mean: a valid order padded with whitespace to
    exactly 64 KiB is placed; one more byte is a 413."""
    await seed_item(client, admin, sku="PAD")
    order = as_json({"lines": [{"sku": "PAD", "quantity": 1}]})
    exact = order + b" " * (MAX_BODY_BYTES - len(order))
    headers = {**customer.headers, **JSON}

    placed = await client.post("/orders/", content=exact, headers=headers)
    assert placed.status_code == 201, placed.text
    streamed = await client.post("/orders/", content=chunked(exact), headers=headers)
    assert streamed.status_code == 201, streamed.text  # a chunked body is replayed whole
    assert streamed.json()["lines"] == placed.json()["lines"]
    for body in (exact + b" ", chunked(exact + b" ")):
        await refused(
            database,
            client.post("/orders/", content=body, headers=headers),
            expected=413,
            json_error=False,
        )


async def test_a_413_is_json_like_every_other_error(
    client: httpx.AsyncClient, admin: Account
) -> None:
    """The README promises ``{"detail": ...}`` for every error. A body announced by
    Content-Length (what almost every client sends) gets a text/plain 413 today."""
    headers = {**admin.headers, **JSON}
    body = as_json({"title": "x" * (MAX_BODY_BYTES + 10)})
    announced = await client.post("/items/", content=body, headers=headers)
    streamed = await client.post("/items/", content=chunked(body), headers=headers)
    for response in (announced, streamed):
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/json", response.text
        assert isinstance(response.json()["detail"], str)


async def test_malformed_and_deeply_nested_json_is_a_client_error(
    client: httpx.AsyncClient, database: Database, admin: Account
) -> None:
    item = await seed_item(client, admin, sku="NEST")
    depth = 20_000  # 40 KB of brackets: under the body limit, far beyond any recursion limit
    bodies = {
        "nested arrays": b'{"title": ' + b"[" * depth + b"]" * depth + b"}",
        "nested objects": b'{"title": ' + b'{"a":' * 5_000 + b"1" + b"}" * 5_000 + b"}",
        "nested in lines": b'{"lines": ' + b"[" * depth + b"]" * depth + b"}",
        "5000-digit integer": b'{"title": "x", "quantity": 1' + b"0" * 5_000 + b"}",
        "invalid UTF-8": b'{"title": "\xff\xfe\xfd"}',
        "truncated": b'{"title": "x", "lines": [',
        "top-level array": b'[{"title": "x"}]',
        "top-level string": b'"title"',
        "empty": b"",
        "not JSON at all": b"\x00\x01\x02 title=x",
    }
    for method, path, content_type in write_endpoints(item["id"]):
        if content_type is FORM:
            continue
        for body in bodies.values():
            await refused(
                database,
                client.request(method, path, content=body, headers={**admin.headers, **JSON}),
            )
    assert (await client.get(f"/items/{item['id']}")).json() == item


HUGE_INTEGERS = (2**31, 2**63, -(2**63), 10**30, -1)


async def test_huge_integers_are_refused_everywhere(
    client: httpx.AsyncClient, database: Database, admin: Account, customer: Account
) -> None:
    item = await seed_item(client, admin, sku="INT")
    admin_json = {**admin.headers, **JSON}
    for number in HUGE_INTEGERS:
        for payload in (
            {"title": "x", "quantity": number},
            {"title": "x", "price": number},
        ):
            await refused(
                database,
                client.post("/items/", content=as_json(payload), headers=admin_json),
                expected=422,
            )
            update = {key: value for key, value in payload.items() if key != "title"}
            await refused(
                database,
                client.put(f"/items/{item['id']}", content=as_json(update), headers=admin_json),
                expected=422,
            )
        restock = as_json({"quantity": number})
        await refused(
            database,
            client.post(f"/items/{item['id']}/restock", content=restock, headers=admin_json),
            expected=422,
        )
        order = as_json({"lines": [{"sku": "INT", "quantity": number}]})
        await refused(
            database,
            client.post("/orders/", content=order, headers={**customer.headers, **JSON}),
            expected=422,
        )
        for path in (f"/items/{number}", f"/orders/{number}", f"/items/?skip={number}"):
            response = await client.get(path, headers=admin.headers)
            assert response.status_code == 422, f"{path}: {response.status_code}"
    for wrong_type in (1.5, "7", True, None, [1], {"n": 1}):
        await refused(
            database,
            client.post(
                "/items/",
                content=as_json({"title": "x", "quantity": wrong_type}),
                headers=admin_json,
            ),
            expected=422,
        )
    assert (await client.get(f"/items/{item['id']}")).json() == item


async def test_nan_and_infinity_prices_are_refused(
    client: httpx.AsyncClient, database: Database, admin: Account
) -> None:
    item = await seed_item(client, admin, sku="NAN")
    admin_json = {**admin.headers, **JSON}
    literals = (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400")
    # As strings too: a price is read as a Decimal, which has its own NaN and Infinity.
    strings = ("NaN", "sNaN", "-NaN", "Infinity", "-Infinity", "inf", "1e400", "1e-400", "0.001")
    bodies = [b'{"title": "x", "price": ' + literal + b"}" for literal in literals]
    bodies += [as_json({"title": "x", "price": value}) for value in strings]
    bodies += [as_json({"title": "x", "price": float("nan")})]
    for body in bodies:
        await refused(
            database, client.post("/items/", content=body, headers=admin_json), expected=422
        )
        update = body.replace(b'"title": "x", ', b"")
        await refused(
            database,
            client.put(f"/items/{item['id']}", content=update, headers=admin_json),
            expected=422,
        )
    assert (await client.get(f"/items/{item['id']}")).json() == item

    # Negative zero is zero, stored and shown as "0.00", never "-0.00".
    zero = await client.post(
        "/items/", content=b'{"title": "z", "price": -0.0}', headers=admin_json
    )
    assert zero.status_code == 201, zero.text
    assert zero.json()["price"] == "0.00"


async def test_item_text_that_no_store_can_hold_is_refused(
    client: httpx.AsyncClient, database: Database, admin: Account
) -> None:
    item = await seed_item(client, admin, sku="TEXT", description="kept")
    admin_json = {**admin.headers, **JSON}
    too_long = {"title": "t" * 201, "description": "d" * 2001, "sku": "S" * 65}
    for field_name in ("title", "description", "sku"):
        hostile = [*(f"ok{value}ok" for value in NOT_STORABLE), too_long[field_name]]
        hostile.append("x" * 60_000)  # very long, still under the body limit
        hostile += [f"ok{value}ok" for value in NOT_ONE_LINE]
        if field_name == "sku":
            hostile += [*UNUSUAL_TEXT, *SQL_INJECTION, "\u200bSKU", "SKU\u202e", "\uff33\uff11"]
        for value in hostile:
            created = {"title": "x", field_name: value}
            await refused(
                database,
                client.post("/items/", content=as_json(created), headers=admin_json),
                expected=422,
            )
            await refused(
                database,
                client.put(
                    f"/items/{item['id']}", content=as_json({field_name: value}), headers=admin_json
                ),
                expected=422,
            )
    assert (await client.get(f"/items/{item['id']}")).json() == item
    assert (await stored_item(database, item["id"]))["description"] == "kept"


async def test_unusual_but_valid_item_text_round_trips_exactly(
    client: httpx.AsyncClient, database: Database, admin: Account
) -> None:
    """Zero-width characters, combining marks, astral characters and SQL fragments are text:
    stored and returned exactly as sent (no normalisation, no stripping)."""
    admin_json = {**admin.headers, **JSON}
    at_the_limit = "\U0001d11e" * 200  # 200 characters, 800 bytes of UTF-8
    values = [value for value in (*UNUSUAL_TEXT, *SQL_INJECTION) if value != BIDI_OVERRIDE]
    start = await row_counts(database)
    for n, value in enumerate(values):
        before = await row_counts(database)
        payload = {"title": value, "description": value, "sku": f"odd-{n}"}
        response = await client.post("/items/", content=as_json(payload), headers=admin_json)
        assert response.status_code == 201, f"{value!r}: {response.text}"
        created = response.json()
        assert (created["title"], created["description"]) == (value, value)
        assert (await client.get(f"/items/{created['id']}")).json() == created
        stored = await stored_item(database, created["id"])
        assert (stored["title"], stored["description"]) == (value, value)
        assert await row_counts(database) == {**before, "items": before["items"] + 1}

        renamed = f"{value} v2"
        change = {"title": renamed, "description": renamed}
        updated = await client.put(
            f"/items/{created['id']}", content=as_json(change), headers=admin_json
        )
        assert updated.status_code == 200, updated.text
        assert (updated.json()["title"], updated.json()["description"]) == (renamed, renamed)
        stored = await stored_item(database, created["id"])
        assert (stored["title"], stored["description"]) == (renamed, renamed)

    longest = await client.post(
        "/items/", content=as_json({"title": at_the_limit}), headers=admin_json
    )
    assert longest.status_code == 201, longest.text
    assert (await stored_item(database, longest.json()["id"]))["title"] == at_the_limit
    # Every table is still there and answers, with exactly the rows this test added.
    assert await row_counts(database) == {**start, "items": start["items"] + len(values) + 1}


async def test_registration_refuses_hostile_emails_and_passwords(
    client: httpx.AsyncClient, database: Database
) -> None:
    good_password = new_password()
    bad_emails = [
        *(f"a{value}b@example.com" for value in (*NOT_STORABLE, *UNUSUAL_TEXT[:2])),
        *(f"{value}@example.com" for value in SQL_INJECTION),
        "admin@example.com' --",
        "x" * 10_000 + "@example.com",
        "no-at-sign",
    ]
    for email in bad_emails:
        body = as_json({"email": email, "password": good_password})
        await refused(database, client.post("/users/", content=body, headers=JSON), expected=422)
    bad_passwords = [f"password{value}" for value in NOT_STORABLE] + ["p" * 257, "p" * 10_000]
    for password in bad_passwords:
        if "\x00" in password or len(password) > 256:
            ISSUED_PASSWORDS.add(password)  # and never echoed (the client checks every body)
        body = as_json({"email": "fine@example.com", "password": password})
        await refused(database, client.post("/users/", content=body, headers=JSON), expected=422)


async def test_unusual_passwords_are_kept_exactly_and_never_normalised(
    client: httpx.AsyncClient, database: Database
) -> None:
    for n, oddity in enumerate((*UNUSUAL_TEXT, *SQL_INJECTION)):
        password = f"pw {oddity} {n}"
        ISSUED_PASSWORDS.add(password)
        email = f"odd-{n}@example.com"
        body = as_json({"email": email, "password": password})
        registered = await client.post("/users/", content=body, headers=JSON)
        assert registered.status_code == 201, registered.text
        login = await client.post("/token", data={"username": email, "password": password})
        assert login.status_code == 200, f"{password!r}: {login.text}"
        altered_forms = {
            password.replace("\u200b", "").replace("\u200d", "").replace("\ufeff", ""),
            unicodedata.normalize("NFC", password),
            unicodedata.normalize("NFKC", password),
            password.replace("\u202e", "").replace("\u202c", ""),
        } - {password}
        if oddity in UNUSUAL_TEXT[:3]:  # bidi marks, zero-width characters, a combining accent
            assert altered_forms, f"no altered form of {password!r} was tried"
        for altered in altered_forms:
            wrong = await client.post("/token", data={"username": email, "password": altered})
            assert wrong.status_code == 400, f"{altered!r} logged in as {password!r}"


async def test_an_address_logs_in_exactly_as_it_was_registered(client: httpx.AsyncClient) -> None:
    """Registration normalises an address through the email validator (Unicode NFC, IDNA
    domains decoded); login must accept the very string the user registered with."""
    password = new_password()
    locked_out = []
    for email in ("rene\u0301@example.com", "shop@xn--e1afmkfd.xn--p1ai", "Mixed.Case@Example.COM"):
        registered = await client.post("/users/", json={"email": email, "password": password})
        assert registered.status_code == 201, registered.text
        login = await client.post("/token", data={"username": email, "password": password})
        if login.status_code != 200:
            stored = registered.json()["email"]
            locked_out.append(
                f"registered as {email!a} (stored as {stored!a}): {login.status_code}"
            )
    assert not locked_out, "cannot log in with the address used to register:\n" + "\n".join(
        locked_out
    )


async def test_login_with_hostile_credentials_is_a_plain_invalid_grant(
    client: httpx.AsyncClient, database: Database, customer: Account
) -> None:
    """Whatever is wrong with the credentials, the answer is the one 400 invalid_grant (never
    a 5xx, never a hint), and nothing is stored."""
    email = customer.email.encode()
    forms = [
        b"username=" + email + b"&password=%00" + customer.password.encode(),
        b"username=" + email + b"%00&password=" + customer.password.encode(),
        b"username=%ED%A0%80&password=%ED%A0%80",  # a surrogate's bytes: not UTF-8
        b"username=%FF%FE&password=%FF",
        b"username=\xff\xfe&password=\xff",
        b"username=" + email + b"&password=" + b"x" * 60_000,
        b"username=" + b"u" * 60_000 + b"&password=x",
    ]
    forms += [
        b"username=" + quote(injection).encode() + b"&password=" + quote(injection).encode()
        for injection in SQL_INJECTION
    ]
    forms += [
        b"username=" + email + b"&password=" + quote(injection).encode()
        for injection in SQL_INJECTION
    ]
    for form in forms:
        login = client.post("/token", content=form, headers=FORM)
        # OAuth's error body, not the API's ``detail`` (entrypoints/api/token_errors.py).
        response = await refused(database, login, expected=400, json_error=False)
        assert response.json()["error"] == "invalid_grant", response.text
    # The real account still logs in.
    login = {"username": customer.email, "password": customer.password}
    assert (await client.post("/token", data=login)).status_code == 200


async def test_order_lines_and_idempotency_keys_refuse_hostile_values(
    client: httpx.AsyncClient, database: Database, admin: Account, customer: Account
) -> None:
    await seed_item(client, admin, sku="LINE")
    headers = {**customer.headers, **JSON}
    skus = [*(f"LINE{value}" for value in NOT_STORABLE), *UNUSUAL_TEXT, *SQL_INJECTION]
    skus += ["L" * 65, "L" * 60_000, "LINE\u200b", "\u202eLINE"]
    for sku in skus:
        order = as_json({"lines": [{"sku": sku, "quantity": 1}]})
        await refused(
            database, client.post("/orders/", content=order, headers=headers), expected=422
        )
    valid = as_json({"lines": [{"sku": "LINE", "quantity": 1}]})
    bad_keys: list[bytes] = [
        b"' OR '1'='1",  # a space: not visible ASCII
        "clé".encode("latin-1"),
        "ключ".encode(),
        b"a\x00b",
        b"\x7f",
        b"k" * 256,
    ]
    for key in bad_keys:
        await refused(
            database,
            client.post(
                "/orders/",
                content=valid,
                headers=[
                    *((k.encode(), v.encode()) for k, v in headers.items()),
                    (b"idempotency-key", key),
                ],
            ),
            expected=422,
        )


async def test_an_odd_but_valid_idempotency_key_is_stored_verbatim_and_replays(
    client: httpx.AsyncClient, database: Database, admin: Account, customer: Account
) -> None:
    await seed_item(client, admin, sku="KEY")
    key = "'OR'1'='1';--"  # visible ASCII: a legitimate key
    headers = {**customer.headers, **JSON, "Idempotency-Key": key}
    order = {"lines": [{"sku": "KEY", "quantity": 2}]}
    first = await client.post("/orders/", json=order, headers=headers)
    assert first.status_code == 201, first.text
    before = await row_counts(database)
    again = await client.post("/orders/", json=order, headers=headers)
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert await row_counts(database) == before
    async with outside_connection(database) as connection:
        stored = await connection.execute(text("SELECT key FROM idempotency_keys"))
        assert stored.scalars().all() == [key]
