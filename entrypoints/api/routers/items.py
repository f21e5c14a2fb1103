"""``/items``: the catalog over HTTP. Routes translate; services decide."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from entrypoints.api.dependencies import Reads, UnitOfWork
from entrypoints.api.schemas import ErrorOut, ItemCreate, ItemOut, ItemUpdate, Restock
from entrypoints.api.security import require_admin
from service_layer.services import items as services
from service_layer.views import ItemView

router = APIRouter(prefix="/items", tags=["items"])
NDJSON = "application/x-ndjson"

# Ids and offsets are bounded so absurd values are a 422, not an integer overflow in the driver.
ItemId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Responses = dict[int | str, dict[str, Any]]
NOT_FOUND: Responses = {404: {"model": ErrorOut, "description": "No item with that id"}}
SKU_TAKEN: Responses = {409: {"model": ErrorOut, "description": "SKU already taken"}}
# Reading the catalog is public; every change to it is an admin's.
ADMIN_ONLY = [Depends(require_admin)]


@router.post(
    "/",
    dependencies=ADMIN_ONLY,
    status_code=status.HTTP_201_CREATED,
    response_model=ItemOut,
    responses=SKU_TAKEN,
)
async def create_item(body: ItemCreate, uow: UnitOfWork) -> ItemOut:
    return ItemOut.from_view(await services.add_item(uow, body.to_command()))


@router.get("/", response_model=list[ItemOut])
async def list_items(
    reads: Reads,
    skip: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=services.MAX_PAGE_SIZE)] = services.MAX_PAGE_SIZE,
) -> list[ItemOut]:
    return [
        ItemOut.from_view(view) for view in await services.list_items(reads, skip=skip, limit=limit)
    ]


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "One item per line"}},
)
async def export_items(reads: Reads) -> StreamingResponse:
    """The whole catalog as NDJSON, streamed page by page (each page its own short read)."""
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
    return ItemOut.from_view(view).model_dump_json().encode() + b"\n"


@router.get("/{item_id}", response_model=ItemOut, responses=NOT_FOUND)
async def read_item(item_id: ItemId, reads: Reads) -> ItemOut:
    return ItemOut.from_view(await services.get_item(reads, item_id))


@router.put(
    "/{item_id}",
    dependencies=ADMIN_ONLY,
    response_model=ItemOut,
    responses={**NOT_FOUND, **SKU_TAKEN},
)
async def update_item(item_id: ItemId, body: ItemUpdate, uow: UnitOfWork) -> ItemOut:
    return ItemOut.from_view(await services.update_item(uow, item_id, body.to_command()))


@router.delete(
    "/{item_id}",
    dependencies=ADMIN_ONLY,
    status_code=status.HTTP_204_NO_CONTENT,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorOut, "description": "The item appears on orders"},
    },
    response_class=Response,
)
async def delete_item(item_id: ItemId, uow: UnitOfWork) -> Response:
    await services.delete_item(uow, item_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{item_id}/restock", response_model=ItemOut, responses=NOT_FOUND, dependencies=ADMIN_ONLY
)
async def restock_item(item_id: ItemId, body: Restock, uow: UnitOfWork) -> ItemOut:
    return ItemOut.from_view(await services.restock(uow, item_id, body.quantity))
