"""``/items``: the catalog over HTTP. Routes translate; services decide.

A route returns the service's read model; FastAPI reads the ``response_model`` off it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from domain.item import SKU_MAX_LENGTH
from entrypoints.api.dependencies import Reads, UnitOfWork
from entrypoints.api.paths import id_segment
from entrypoints.api.response_models import ItemOut
from entrypoints.api.responses import ADMIN_ONLY, READS, Responses, error
from entrypoints.api.schemas import SKU_TEXT, ItemCreate, ItemUpdate, Restock
from entrypoints.api.security import require_admin
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
async def create_item(body: ItemCreate, uow: UnitOfWork) -> ItemView:
    return await services.add_item(uow, body.to_command())


@router.get("/", response_model=list[ItemOut], responses=READS)
async def list_items(
    reads: Reads,
    skip: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=services.MAX_PAGE_SIZE)] = services.MAX_PAGE_SIZE,
    sku: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=SKU_MAX_LENGTH,
            pattern=SKU_TEXT,
            description="Only the item with this SKU (any case): a list of one item, or none",
        ),
    ] = None,
) -> list[ItemView]:
    return await services.list_items(reads, skip=skip, limit=limit, sku=sku)


@router.get(
    "/export",
    dependencies=BY_ADMIN,
    response_class=StreamingResponse,
    responses={200: EXPORTED, **ADMIN_ONLY},
)
async def export_items(reads: Reads) -> StreamingResponse:
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
        yield _ndjson(first)
        async for view in pages:
            yield _ndjson(view)

    return StreamingResponse(lines(), media_type=NDJSON)


def _ndjson(view: ItemView) -> bytes:
    return ItemOut.model_validate(view).model_dump_json().encode() + b"\n"


@router.get(ITEM, response_model=ItemOut, responses={**READS, **NOT_FOUND})
async def get_item(item_id: ItemId, reads: Reads) -> ItemView:
    return await services.get_item(reads, item_id)


@router.put(
    ITEM,
    dependencies=BY_ADMIN,
    response_model=ItemOut,
    responses={**ADMIN_ONLY, **NOT_FOUND, **SKU_TAKEN},
)
async def update_item(item_id: ItemId, body: ItemUpdate, uow: UnitOfWork) -> ItemView:
    return await services.update_item(uow, item_id, body.to_command())


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
async def restock_item(item_id: ItemId, body: Restock, uow: UnitOfWork) -> ItemView:
    return await services.restock(uow, item_id, body.quantity)
