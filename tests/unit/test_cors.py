"""CORS from ``STOCKROOM_CORS_ORIGINS`` (issue 24): a page from a listed origin may call the
API and read the headers a client needs; any other origin gets no CORS answer; unset, the app
has no CORS layer at all."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.middleware.cors import CORSMiddleware

from entrypoints.api.app import create_app
from entrypoints.settings import Settings
from tests.api_support import api_client, build_test_container

SHOP = "https://shop.example"
ELSEWHERE = "https://evil.example"
EXPOSED = {
    "x-consistency-token",
    "x-request-id",
    "retry-after",
    "idempotent-replayed",
    "link",
    "x-total-count",
}
SENT = {"authorization", "content-type", "idempotency-key", "x-consistency-token", "x-request-id"}


def preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }


def listed(header: str) -> set[str]:
    return {name.strip().lower() for name in header.split(",")}


@pytest.fixture(scope="module")
def apps() -> dict[str, FastAPI]:
    """One app per setting: the shop's origin (and a local one), any origin, none."""
    return {
        "shop": create_app(
            build_test_container(cors_origins=[SHOP, "http://localhost:5173"], max_body_bytes=100)
        ),
        "any": create_app(build_test_container(cors_origins=["*"])),
        "none": create_app(build_test_container()),
    }


@pytest.fixture
async def shop(apps: dict[str, FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(apps["shop"]) as client:
        yield client


async def test_a_preflight_from_a_listed_origin_is_allowed_with_the_clients_headers(
    shop: httpx.AsyncClient,
) -> None:
    response = await shop.options("/orders/", headers=preflight(SHOP))

    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == SHOP
    assert listed(response.headers["access-control-allow-headers"]) >= SENT
    assert {"get", "post", "put", "delete"} <= listed(
        response.headers["access-control-allow-methods"]
    )
    assert "access-control-allow-credentials" not in response.headers  # bearer tokens only


async def test_an_answer_to_a_listed_origin_exposes_the_headers_a_client_reads(
    shop: httpx.AsyncClient,
) -> None:
    response = await shop.get("/", headers={"Origin": SHOP})

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == SHOP
    assert listed(response.headers["access-control-expose-headers"]) >= EXPOSED


async def test_the_layer_is_outermost_so_even_a_refused_body_is_readable(
    shop: httpx.AsyncClient,
) -> None:
    response = await shop.post("/orders/", content=b"x" * 1000, headers={"Origin": SHOP})

    assert response.status_code == 413
    assert response.headers["access-control-allow-origin"] == SHOP


async def test_another_origin_gets_no_cors_answer(shop: httpx.AsyncClient) -> None:
    refused = await shop.options("/orders/", headers=preflight(ELSEWHERE))
    simple = await shop.get("/", headers={"Origin": ELSEWHERE})

    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_a_star_allows_any_origin_without_credentials(apps: dict[str, FastAPI]) -> None:
    async with api_client(apps["any"]) as client:
        response = await client.options("/orders/", headers=preflight(ELSEWHERE))

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_without_origins_there_is_no_cors_layer_and_no_cors_header(
    apps: dict[str, FastAPI],
) -> None:
    async with api_client(apps["none"]) as client:
        asked = await client.options("/orders/", headers=preflight(SHOP))
        simple = await client.get("/", headers={"Origin": SHOP})

    layers = [getattr(layer.cls, "__name__", "") for layer in apps["none"].user_middleware]
    assert CORSMiddleware.__name__ not in layers
    for response in (asked, simple):
        assert not [name for name in response.headers if name.startswith("access-control-")]


def test_the_setting_is_a_comma_separated_list_of_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKROOM_CORS_ORIGINS", " https://Shop.Example , http://[::1]:8080,")

    assert Settings().cors_origins == [SHOP, "http://[::1]:8080"]
    assert Settings(cors_origins=[]).cors_origins == []


@pytest.mark.parametrize(
    "origins",
    [
        "https://shop.example/",  # a trailing slash: a browser never sends one
        "https://shop.example/app",
        "shop.example",
        "ftp://shop.example",
        "*,https://shop.example",
    ],
)
def test_a_value_no_browser_would_send_is_refused(
    monkeypatch: pytest.MonkeyPatch, origins: str
) -> None:
    monkeypatch.setenv("STOCKROOM_CORS_ORIGINS", origins)

    with pytest.raises(ValidationError, match=r"is not an origin|\* alone"):
        Settings()
