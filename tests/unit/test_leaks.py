"""What an answer must not give away (issue 26): the client's own input in an error (F13), the
primary's write position on a response that committed nothing (F16); and a clock-skew leeway,
so a token from a host a second ahead is not refused (F17)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from adapters.tokens import InvalidToken, JwtTokenCodec
from entrypoints.api.consistency import HEADER, ConsistencyTokens
from entrypoints.api.errors import install_error_handlers
from entrypoints.container import Container
from service_layer.errors import MalformedReadPosition
from tests.api_support import Account
from tests.conftest import TEST_SECRET_KEY

MARKUP = "<script>alert(1)</script>"

# ---- F13: no input echoed in an error ----------------------------------------------------


async def test_a_malformed_consistency_token_is_not_repeated_in_the_400() -> None:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/read")
    async def read(request: Request) -> None:
        # What adapters.replicas.parse_position raises for the header as sent.
        raise MalformedReadPosition(request.headers[HEADER])

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/read", headers={HEADER: MARKUP})

    assert answer.status_code == 400
    assert "alert" not in answer.text
    assert HEADER in answer.json()["detail"], "it still says which header is wrong"


@pytest.mark.parametrize(
    ("email", "quoted"),
    [
        ("someone@[IPv6:zz-secret-part]", "zz-secret-part"),  # a bracketed literal
        ("someone@xn--zz-secretlabel.com", "secretlabel"),  # an IDNA label, decoded
    ],
)
async def test_a_bad_email_is_refused_without_quoting_it(
    client: httpx.AsyncClient, email: str, quoted: str
) -> None:
    answer = await client.post("/users/", json={"email": email, "password": "a-fine-password"})

    assert answer.status_code == 422, answer.text
    assert quoted not in answer.text
    (problem,) = answer.json()["detail"]
    assert problem["loc"] == ["body", "email"]
    assert problem["msg"] == "value is not a valid email address"


async def test_an_unknown_field_is_named_only_when_its_name_is_plain(
    client: httpx.AsyncClient,
) -> None:
    body = {"email": "someone@example.com", "password": "a-fine-password"}
    odd = await client.post("/users/", json={**body, MARKUP: 1})
    typo = await client.post("/users/", json={**body, "pasword": 1})

    assert odd.status_code == typo.status_code == 422
    assert "alert" not in odd.text
    assert [problem["loc"] for problem in odd.json()["detail"]] == [["body", "(unknown field)"]]
    assert [problem["loc"] for problem in typo.json()["detail"]] == [["body", "pasword"]]


async def test_no_422_carries_the_input(client: httpx.AsyncClient, admin: Account) -> None:
    answer = await client.post(
        "/items/",
        json={"title": MARKUP, "sku": MARKUP, "price": "1.234x", "quantity": MARKUP},
        headers=admin.headers,
    )

    assert answer.status_code == 422
    assert "alert" not in answer.text
    assert all("input" not in problem for problem in answer.json()["detail"])


# ---- F16: the write position only on a write that committed ------------------------------


class _Primary:
    """The primary's read port as ``position_now`` asks it."""

    async def fetch_all(self, _statement: Any, _parameters: Mapping[str, Any]) -> list[Any]:
        return [{"pg_current_wal_lsn": "0/16B3748"}]


def _answering(status: int) -> Starlette:
    async def endpoint(_request: Request) -> Response:
        return PlainTextResponse("", status_code=status, headers={"Location": "/elsewhere"})

    return Starlette(routes=[Route("/", endpoint, methods=["GET", "POST", "DELETE"])])


@pytest.mark.parametrize(
    ("method", "status", "carries"),
    [
        ("POST", 201, True),
        ("DELETE", 204, True),
        ("POST", 307, False),  # FastAPI's trailing-slash redirect: before any route ran
        ("POST", 401, False),  # a failed login
        ("POST", 429, False),
        ("POST", 409, False),
        ("GET", 200, False),
    ],
)
async def test_only_a_2xx_write_carries_a_consistency_token(
    method: str, status: int, carries: bool
) -> None:
    app = ConsistencyTokens(_answering(status), primary=_Primary())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.request(method, "/")

    assert answer.status_code == status
    assert (HEADER in answer.headers) is carries


# ---- F17: a small clock-skew leeway on iat/nbf (and, in PyJWT, exp) -----------------------

LIFETIME = timedelta(minutes=60)


def _codec() -> JwtTokenCodec:
    return JwtTokenCodec(TEST_SECRET_KEY, LIFETIME)


@pytest.mark.parametrize("ahead", [timedelta(seconds=1), timedelta(seconds=25)])
def test_a_token_issued_seconds_ahead_by_another_host_is_accepted(ahead: timedelta) -> None:
    codec = _codec()
    issued = datetime.now(UTC) + ahead

    claims = codec.decode(codec.issue(7, "customer", credentials_version=0, now=issued))

    assert claims.user_id == 7


def test_a_token_issued_minutes_ahead_is_refused() -> None:
    codec = _codec()
    token = codec.issue(
        7, "customer", credentials_version=0, now=datetime.now(UTC) + timedelta(minutes=5)
    )

    with pytest.raises(InvalidToken):
        codec.decode(token)


@pytest.mark.parametrize(
    ("past_exp", "accepted"), [(timedelta(seconds=10), True), (timedelta(minutes=2), False)]
)
def test_the_leeway_applies_to_exp_too(past_exp: timedelta, accepted: bool) -> None:
    codec = _codec()
    issued = datetime.now(UTC) - LIFETIME - past_exp
    token = codec.issue(7, "customer", credentials_version=0, now=issued)

    if accepted:
        assert codec.decode(token).user_id == 7
    else:
        with pytest.raises(InvalidToken):
            codec.decode(token)


async def test_the_api_accepts_a_token_a_second_ahead(
    client: httpx.AsyncClient, customer: Account, container: Container
) -> None:
    codec = container.token_codec()
    token = codec.issue(
        customer.id, "customer", credentials_version=0, now=datetime.now(UTC) + timedelta(seconds=1)
    )

    answer = await client.get("/users/me", headers={"Authorization": f"Bearer {token}"})

    assert answer.status_code == 200, answer.text
