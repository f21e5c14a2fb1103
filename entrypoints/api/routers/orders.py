"""``/orders``: buying, and following what was bought.

Every order answered is labelled with the shop's currency (``replace(order, currency=...)``),
as the items are (routers/items.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import (
    APIRouter,
    Depends,
    Header,
    Path,
    Query,
    Request,
    Response,
    status,
)

from domain.order import OrderStatus
from entrypoints.api.dependencies import AppSettings, UnitOfWork
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
from entrypoints.api.response_models import OrderOut, OutOfStockOut
from entrypoints.api.responses import ADMIN_ONLY, SIGNED_IN, Responses, error, no_store
from entrypoints.api.schemas import OrderCreate
from entrypoints.api.security import CurrentActor, require_admin
from service_layer.services import orders as services
from service_layer.views import OrderView

# Every route here is for a signed-in user, and every answer is one account's orders.
router = APIRouter(
    prefix="/orders", tags=["orders"], responses=SIGNED_IN, dependencies=[Depends(no_store)]
)

OrderId = Annotated[int, Path(ge=1, le=2**31 - 1)]
ORDER = id_segment("order_id")  # see items.ITEM
NOT_FOUND: Responses = {404: error("No such order (or not yours)")}
# Sent only on a replay (Stripe's name; the IETF idempotency-key draft defines none): a first
# answer and its replay have the same status and body, and a client may want to know which.
REPLAYED_HEADER = "Idempotent-Replayed"
PLACED: Responses = {
    201: {
        "headers": {
            REPLAYED_HEADER: {
                "description": "`true` when this is the answer to an earlier request with the "
                "same Idempotency-Key (nothing was bought now); absent otherwise",
                "schema": {"type": "string", "enum": ["true"]},
            }
        }
    }
}
CONFLICT: Responses = {
    409: error("Not allowed in its status, or the stock it returns would exceed an item's limit")
}


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderOut,
    responses={
        **PLACED,
        409: {"model": OutOfStockOut, "description": "Out of stock; names the SKUs"},
    },
)
async def place_order(
    body: OrderCreate,
    actor: CurrentActor,
    uow: UnitOfWork,
    settings: AppSettings,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",  # visible ASCII: what a header can carry unambiguously
            description="Retry-safe key: the same key and body return the original order for "
            "a day (the server's STOCKROOM_IDEMPOTENCY_TTL_HOURS); then the key is forgotten.",
        ),
    ] = None,
) -> OrderView:
    """Takes stock for every line or for none.

    422 also for what the schema cannot state: a SKU the catalog does not have, more than
    the per-order limit of one SKU over several lines, or an Idempotency-Key already used
    with a different order.
    """
    order = await services.place_order(
        uow,
        actor,
        body.to_lines(),
        idempotency_key=idempotency_key,
        key_ttl=settings.idempotency_ttl,
        # Items the sale leaves at or below it record stock.low with the order; the alert is
        # that event's handler, run after the commit from the outbox (service_layer/handlers.py).
        low_stock_threshold=settings.low_stock_threshold,
    )
    if order.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return replace(order, currency=settings.currency)


@router.get("/", response_model=list[OrderOut], responses=PAGED)
async def list_orders(
    request: Request,
    response: Response,
    actor: CurrentActor,
    uow: UnitOfWork,
    settings: AppSettings,
    skip: Annotated[int, Query(ge=0, le=10**9, description=SKIP_DESCRIPTION)] = 0,
    limit: Annotated[int, Query(ge=1, le=services.MAX_PAGE_SIZE)] = services.MAX_PAGE_SIZE,
    cursor: Annotated[
        str | None, Query(max_length=CURSOR_MAX_LENGTH, description=CURSOR_DESCRIPTION)
    ] = None,
    count: Annotated[bool, Query(description=COUNT_DESCRIPTION)] = False,
    status: Annotated[
        OrderStatus | None, Query(description="Only the orders in this status")
    ] = None,
) -> list[OrderView]:
    """Your orders (an admin's: everyone's), newest first, a page at a time: follow the
    `Link` header's rel="next" URL for the next page (or page by `skip`, classically)."""
    before_id = start_after(Listing.ORDERS, cursor, skip=skip)
    page = await services.list_orders(
        uow, actor, skip=skip, limit=limit, status=status, before_id=before_id, count=count
    )
    describe_page(request, response, Listing.ORDERS, page)
    return [replace(order, currency=settings.currency) for order in page.rows]


@router.get(ORDER, response_model=OrderOut, responses=NOT_FOUND)
async def get_order(
    order_id: OrderId, actor: CurrentActor, uow: UnitOfWork, settings: AppSettings
) -> OrderView:
    order = await services.get_order(uow, actor, order_id)
    return replace(order, currency=settings.currency)


@router.post(f"{ORDER}/cancel", response_model=OrderOut, responses={**NOT_FOUND, **CONFLICT})
async def cancel_order(
    order_id: OrderId, actor: CurrentActor, uow: UnitOfWork, settings: AppSettings
) -> OrderView:
    order = await services.cancel_order(uow, actor, order_id)
    return replace(order, currency=settings.currency)


@router.post(
    f"{ORDER}/ship",
    response_model=OrderOut,
    responses={**ADMIN_ONLY, **NOT_FOUND, **CONFLICT},
    dependencies=[Depends(require_admin)],
)
async def ship_order(order_id: OrderId, uow: UnitOfWork, settings: AppSettings) -> OrderView:
    order = await services.ship_order(uow, order_id)
    return replace(order, currency=settings.currency)
