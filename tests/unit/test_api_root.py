"""``GET /`` says what answers here, and the docs pages need nothing but this server."""

from __future__ import annotations

import re
from importlib.metadata import version

import httpx
import pytest


async def test_root_names_the_service_its_version_and_where_to_go(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    assert response.json() == {
        "name": "Stockroom",
        "version": version("stockroom"),
        "links": {
            "docs": "/docs",
            "redoc": "/redoc",
            "openapi": "/openapi.json",
            "health_live": "/health/live",
            "health_ready": "/health/ready",
        },
    }


async def test_every_link_of_the_root_answers(client: httpx.AsyncClient) -> None:
    links = (await client.get("/")).json()["links"]

    # Readiness needs a database; that its path is a published operation is enough here.
    assert links.pop("health_ready") in (await client.get("/openapi.json")).json()["paths"]
    for path in links.values():
        assert (await client.get(path)).status_code == 200, path


async def test_the_version_in_the_schema_is_the_package_version(
    client: httpx.AsyncClient,
) -> None:
    schema = (await client.get("/openapi.json")).json()

    assert schema["info"]["version"] == version("stockroom")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_load_their_scripts_and_styles_from_this_server(
    client: httpx.AsyncClient, page: str
) -> None:
    html = (await client.get(page)).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)

    assert any(asset.endswith(".js") for asset in assets), html
    for asset in assets:
        assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 1000, asset
    assert "fonts.googleapis.com" not in html
