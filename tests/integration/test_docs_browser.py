"""``/docs`` and ``/redoc`` in a real browser with no internet: Debian's chromium, headless,
driven by Playwright, against a real ``stockroom serve``.

Every request the pages make to another host is refused, as it would be on a machine without
internet access: the pages must render, list the operations, and run one, from this server's
own files (fastapi-offline, see entrypoints/api/app.py). `make test` installs chromium
(tests/install-servers.sh); without it a laptop skips and CI fails.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, Page, Request, Route, async_playwright, expect

from tests.integration.servers import stockroom_serve, unavailable

# Playwright's own browser downloads are never used: the registries are all we can reach.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A newcomer's server: nothing configured, the embedded database, one worker."""
    with stockroom_serve({}, tmp_path_factory.mktemp("docs"), workers=1) as base:
        yield base


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        unavailable("the docs in a browser", "no chromium (`make test` installs Debian's)")
    # The async API: the suite's tests share one event loop, which the sync API's own loop
    # would stand in the way of.
    async with async_playwright() as playwright:
        # Headless, and with --no-sandbox (Playwright's default: we may be root).
        browser = await playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        await browser.close()


class Offline:
    """A page on which every request to anything but ``base`` fails, as offline."""

    def __init__(self, base: str, page: Page) -> None:
        self.base = base
        self.page = page
        self.refused: list[Request] = []

    async def only_base(self, route: Route) -> None:
        if route.request.url.startswith(self.base + "/"):
            await route.continue_()
        else:
            self.refused.append(route.request)
            await route.abort("internetdisconnected")

    def needed_elsewhere(self) -> list[str]:
        """What the page wanted from elsewhere, other than ReDoc's "by Redocly" logo (an image
        that hides itself when it fails to load)."""
        return [request.url for request in self.refused if request.resource_type != "image"]


@pytest.fixture
async def offline(browser: Browser, served: str) -> AsyncIterator[Offline]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    offline = Offline(served, await context.new_page())
    await context.route("**/*", offline.only_base)
    yield offline
    await context.close()


def published_operations(base: str) -> list[dict[str, Any]]:
    paths = httpx.get(f"{base}/openapi.json", timeout=5).json()["paths"]
    return [operation for methods in paths.values() for operation in methods.values()]


def assert_not_blank(png: bytes) -> None:
    """A page whose scripts did not run is a white (or single-colour) rectangle."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = image.width * image.height
    colours = image.getcolors(maxcolors=pixels) or []
    background = max(colours)[0]
    assert len(colours) > 50, f"{len(colours)} colours: the page looks blank"
    assert pixels - background > pixels * 0.02, "almost nothing painted on the page"


async def test_swagger_ui_lists_the_operations_and_runs_one_offline(
    offline: Offline, served: str, tmp_path: Path
) -> None:
    page = offline.page
    await page.goto(f"{served}/docs")

    # An operation block per operation the schema publishes, GET /items/ among them.
    list_items = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/items/"]')
    )
    await expect(list_items).to_be_visible()
    await expect(page.locator(".opblock")).to_have_count(len(published_operations(served)))
    assert_not_blank(await page.screenshot(path=tmp_path / "docs.png"))

    # Try it out, Execute: the browser calls the API and shows its answer.
    await list_items.locator(".opblock-summary-control").click()
    await list_items.get_by_role("button", name="Try it out").click()
    await list_items.get_by_role("button", name="Execute").click()
    response = list_items.locator(".live-responses-table .response")
    await expect(response.locator(".response-col_status")).to_have_text("200")
    await expect(response.locator(".response-col_description")).to_contain_text("[]")
    assert offline.needed_elsewhere() == []


async def test_redoc_renders_every_operation_title_offline(
    offline: Offline, served: str, tmp_path: Path
) -> None:
    page = offline.page
    await page.goto(f"{served}/redoc")

    # ReDoc gives each operation a section with its id, titled by its summary.
    for operation in published_operations(served):
        section = page.locator(f'[id="operation/{operation["operationId"]}"]')
        await expect(section.locator("h2").first).to_have_text(operation["summary"])
    await expect(page.get_by_role("heading", name="The service: its name")).to_be_visible()
    assert_not_blank(await page.screenshot(path=tmp_path / "redoc.png"))
    assert offline.needed_elsewhere() == []
