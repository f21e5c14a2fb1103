"""Every API route refuses query parameters it does not declare, with a 422 that names them
(``entrypoints/api/query_parameters.py``), in the API's usual 422 form, echoing no value."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from entrypoints.api.query_parameters import (
    MAX_NAMED_PARAMETERS,
    refuse_unknown_query_parameters,
)
from tests.api_support import Account
from tests.fakes import InMemoryStore
from tests.unit.support import seed_one


def _problems(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["cache-control"] == "no-store"
    problems: list[dict[str, Any]] = response.json()["detail"]
    return problems


@pytest.mark.parametrize("name", ["serach", "status", "page"])
async def test_an_unknown_parameter_on_the_items_list_is_a_422_naming_it(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.get("/items/", params={"q": "mug", name: "secret-value"})

    (problem,) = _problems(response)
    assert problem["type"] == "extra_forbidden"
    assert problem["loc"] == ["query", name]
    # What the route does take, so the client can fix the typo.
    for declared in ("q", "cursor", "limit", "sku", "min_price"):
        assert declared in problem["msg"]
    assert "secret-value" not in response.text


async def test_a_route_that_declares_no_parameters_takes_none(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    item = await seed_one(store)

    for path in (f"/items/{item.id}", "/health/live", "/"):
        (problem,) = _problems(await client.get(path, params={"limit": "5"}))
        assert problem["loc"] == ["query", "limit"]
        assert problem["msg"] == "unknown query parameter; this operation takes none"


async def test_signed_in_routes_refuse_them_too(
    client: httpx.AsyncClient, customer: Account
) -> None:
    orders = await client.get("/orders/", params={"q": "mug"}, headers=customer.headers)
    me = await client.get("/users/me", params={"expand": "all"}, headers=customer.headers)

    assert [problem["loc"] for problem in _problems(orders)] == [["query", "q"]]
    assert [problem["loc"] for problem in _problems(me)] == [["query", "expand"]]


async def test_a_parameter_without_a_value_counts_and_each_name_is_named_once(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/items/?flag&other=1&flag=2")

    assert [problem["loc"] for problem in _problems(response)] == [
        ["query", "flag"],
        ["query", "other"],
    ]


async def test_names_are_capped_in_number_and_in_length(client: httpx.AsyncClient) -> None:
    many = "&".join(f"p{n}=1" for n in range(MAX_NAMED_PARAMETERS + 5))
    long_name = "n" * 65

    listed = _problems(await client.get(f"/items/?{many}"))
    odd = _problems(await client.get(f"/items/?{long_name}=1&%3Cscript%3E=1"))

    assert [problem["loc"] for problem in listed[:-1]] == [
        ["query", f"p{n}"] for n in range(MAX_NAMED_PARAMETERS)
    ]
    assert listed[-1]["loc"] == ["query"]
    assert listed[-1]["msg"] == "and 5 more unknown query parameters"
    # Only plain names of at most 64 characters are repeated (validation_problems.py).
    assert [problem["loc"] for problem in odd] == [["query", "(unknown field)"]] * 2


async def test_the_token_endpoint_ignores_unrecognized_parameters_as_oauth_requires(
    client: httpx.AsyncClient, customer: Account
) -> None:
    """RFC 6749 3.2: the token endpoint MUST ignore unrecognized request parameters; the
    other POST routes of the same router refuse them."""
    credentials = {"username": customer.email, "password": customer.password, "scope": "any"}
    token = await client.post("/token?client_hint=x", data=credentials)
    logout = await client.post("/users/me/logout-all?client_hint=x", headers=customer.headers)

    assert token.status_code == 200, token.text
    assert [problem["loc"] for problem in _problems(logout)] == [["query", "client_hint"]]


async def test_the_docs_pages_are_not_api_routes(client: httpx.AsyncClient) -> None:
    """Swagger UI's OAuth redirect page gets the authorization server's code and state;
    the API's own routes refuse them."""
    redirect = await client.get("/docs/oauth2-redirect", params={"code": "c", "state": "s"})
    docs = await client.get("/docs", params={"urls.primaryName": "x"})
    health = await client.get("/health/live", params={"code": "c"})

    assert (redirect.status_code, docs.status_code) == (200, 200)
    assert [problem["loc"] for problem in _problems(health)] == [["query", "code"]]


async def test_parameters_a_routers_dependency_declares_are_known() -> None:
    async def tenant(tenant: str | None = None) -> None:
        """A router's dependency that reads a query parameter of its own."""

    router = APIRouter(dependencies=[Depends(tenant)])

    @router.get("/things")
    async def things(limit: int = 1) -> int:
        return limit

    app = FastAPI()
    app.include_router(router, dependencies=[Depends(refuse_unknown_query_parameters)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        known = await client.get("/things", params={"tenant": "a", "limit": 2})
        unknown = await client.get("/things", params={"tenant": "a", "other": 2})

    assert (known.status_code, known.json()) == (200, 2)
    assert unknown.status_code == 422
    assert [problem["loc"] for problem in unknown.json()["detail"]] == [["query", "other"]]
