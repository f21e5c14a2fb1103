"""``/items``: the catalog over HTTP. Routes translate; services decide.

A route returns the service's read model; FastAPI reads the ``response_model`` off it. The
amounts in it are labelled with the shop's currency first (``replace(view, currency=...)``,
from STOCKROOM_CURRENCY): a label only the HTTP answer carries, so the services, the read port
and the domain know no currency (service_layer/views.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from domain.item import SKU_MAX_LENGTH, TITLE_MAX_LENGTH
from entrypoints.api.dependencies import AppSettings, Reads, UnitOfWork
from entrypoints.api.pages import (
    COUNT_DESCRIPTION,
    CURSOR_DESCRIPTION,
    CURSOR_MAX_LENGTH,
    PAGED,
    SKIP_DESCRIPTION,
    Listing,
    describe_page,
    start_after,
)
from entrypoints.api.paths import id_segment
from entrypoints.api.prices import Price
from entrypoints.api.query_parameters import query_problem
from entrypoints.api.response_models import ItemOut
from entrypoints.api.responses import ADMIN_ONLY, READS, Responses, error
from entrypoints.api.schemas import SKU_TEXT, ItemCreate, ItemUpdate, Restock
from entrypoints.api.security import require_admin
from service_layer.reads import ItemFilter
from service_layer.services import items as services
from service_layer.views import ItemView

router = APIRouter(prefix="/items", tags=["items"])
NDJSON = "application/x-ndjson"

# Ids and offsets are bounded so absurd values are a 422, not an integer overflow in the driver.
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
# Only a number can be an id (entrypoints/api/paths.py): "/items/export" is never taken for
# item "export", so PUT on it is a 405.
ITEM = id_segment("item_id")
NOT_FOUND: Responses = {404: error("No item with that id")}
SKU_TAKEN: Responses = {409: error("SKU already taken")}
# Each line of the export is one ItemOut. OpenAPI 3.1 (FastAPI's) has no way to say "a stream
# of": the schema is the line's, which is what a generated client needs to parse each line.
EXPORTED = {
    "description": "The catalog as NDJSON: one ItemOut (JSON object) per line",
    "content": {NDJSON: {"schema": {"$ref": "#/components/schemas/ItemOut"}}},
}
# Reading the catalog is public, a page at a time; every change to it, and the whole of it at
# once (the export), is an admin's.
BY_ADMIN = [Depends(require_admin)]


@router.post(
    "/",
    dependencies=BY_ADMIN,
    status_code=status.HTTP_201_CREATED,
    response_model=ItemOut,
    responses={**ADMIN_ONLY, **SKU_TAKEN},
)
async def create_item(body: ItemCreate, uow: UnitOfWork, settings: AppSettings) -> ItemView:
    item = await services.add_item(uow, body.to_command())
    return replace(item, currency=settings.currency)


@router.get("/", response_model=list[ItemOut], responses={**READS, **PAGED})
async def list_items(
    request: Request,
    response: Response,
    reads: Reads,
    settings: AppSettings,
    skip: Annotated[int, Query(ge=0, le=10**9, description=SKIP_DESCRIPTION)] = 0,
    limit: Annotated[int, Query(ge=1, le=services.MAX_PAGE_SIZE)] = services.MAX_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=CURSOR_MAX_LENGTH, description=CURSOR_DESCRIPTION)
    ] = None,
    count: Annotated[bool, Query(description=COUNT_DESCRIPTION)] = False,
    sku: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=SKU_MAX_LENGTH,
            pattern=SKU_TEXT,
            description="Only the item with this SKU (any case): a list of one item, or none",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=TITLE_MAX_LENGTH,
            description="Only items whose title contains this text, in any case (every "
            "character literally: `%` and `_` are not wildcards)",
        ),
    ] = None,
    in_stock: Annotated[
        bool | None,
        Query(description="true: only items with stock (quantity > 0); false: only those without"),
    ] = None,
    # The body's Price type: one message for a price finer than a cent, however it is written.
    min_price: Annotated[
        Price | None, Query(description="Only items at this price or more")
    ] = None,
    max_price: Annotated[
        Price | None,
        Query(description="Only items at this price or less; below `min_price` is a 422"),
    ] = None,
) -> list[ItemView]:
    """The catalog in id order, a page at a time: follow the `Link` header's rel="next" URL
    for the next page (or page by `skip`, classically)."""
    after_id = start_after(Listing.ITEMS, cursor, skip=skip)
    if min_price is not None and max_price is not None and min_price > max_price:
        raise query_problem("max_price", "max_price must not be below min_price")
    where = ItemFilter(
        sku=sku, title_contains=q, in_stock=in_stock, min_price=min_price, max_price=max_price
    )
    page = await services.list_items(
        reads, skip=skip, limit=limit, after_id=after_id, where=where, count=count
    )
    describe_page(request, response, Listing.ITEMS, page)
    return [replace(view, currency=settings.currency) for view in page.rows]


@router.get(
    "/export",
    dependencies=BY_ADMIN,
    response_class=StreamingResponse,
    responses={200: EXPORTED, **ADMIN_ONLY},
)
async def export_items(reads: Reads, settings: AppSettings) -> StreamingResponse:
    """The whole catalog as NDJSON, streamed page by page (each page its own short read).

    Admins only: one request costs the server the whole catalog (seconds of a worker for
    300,000 items), so an anonymous caller could make a few of them the cost of everyone's
    requests. Other clients page through ``GET /items/``, each page bounded."""
    pages = services.export_items(reads)
    # The first page is read before the response starts: if the database is unreachable the
    # client gets a 503, not a 200 with an empty body that looks like an empty catalog.
    first = await anext(pages, None)

    async def lines() -> AsyncIterator[bytes]:
        if first is None:
            return
        yield _ndjson(first, settings.currency)
        async for view in pages:
            yield _ndjson(view, settings.currency)

    return StreamingResponse(lines(), media_type=NDJSON)


def _ndjson(view: ItemView, currency: str) -> bytes:
    line = ItemOut.model_validate(replace(view, currency=currency))
    return line.model_dump_json().encode() + b"\n"


@router.get(ITEM, response_model=ItemOut, responses={**READS, **NOT_FOUND})
async def get_item(item_id: ItemId, reads: Reads, settings: AppSettings) -> ItemView:
    item = await services.get_item(reads, item_id)
    return replace(item, currency=settings.currency)


@router.put(
    ITEM,
    dependencies=BY_ADMIN,
    response_model=ItemOut,
    responses={**ADMIN_ONLY, **NOT_FOUND, **SKU_TAKEN},
)
async def update_item(
    item_id: ItemId, body: ItemUpdate, uow: UnitOfWork, settings: AppSettings
) -> ItemView:
    item = await services.update_item(uow, item_id, body.to_command())
    return replace(item, currency=settings.currency)


@router.delete(
    ITEM,
    dependencies=BY_ADMIN,
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**ADMIN_ONLY, **NOT_FOUND, 409: error("The item appears on orders")},
    response_class=Response,
)
async def delete_item(item_id: ItemId, uow: UnitOfWork) -> Response:
    await services.delete_item(uow, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    f"{ITEM}/restock",
    response_model=ItemOut,
    responses={**ADMIN_ONLY, **NOT_FOUND, 409: error("The item cannot hold that much stock")},
    dependencies=BY_ADMIN,
)
async def restock_item(
    item_id: ItemId, body: Restock, uow: UnitOfWork, settings: AppSettings
) -> ItemView:
    item = await services.restock(uow, item_id, body.quantity)
    return replace(item, currency=settings.currency)
