"""``/orders``: buying, and following what was bought."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Path, Query, Response, status

from domain.order import OrderStatus
from entrypoints.api.background import alert_low_stock
from entrypoints.api.dependencies import AppSettings, Reads, UnitOfWork
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
    reads: Reads,
    settings: AppSettings,
    background: BackgroundTasks,
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
    )
    if order.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    threshold = settings.low_stock_threshold
    running_low = services.items_running_low(order, threshold)
    if running_low:
        # After the response, on the primary's read port (it has the sale): never the
        # request's session, which is closed.
        background.add_task(alert_low_stock, reads.latest, running_low, threshold)
    return order


@router.get("/", response_model=list[OrderOut])
async def list_orders(
    actor: CurrentActor,
    uow: UnitOfWork,
    skip: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=services.MAX_PAGE_SIZE)] = services.MAX_PAGE_SIZE,
    status: Annotated[
        OrderStatus | None, Query(description="Only the orders in this status")
    ] = None,
) -> list[OrderView]:
    return await services.list_orders(uow, actor, skip=skip, limit=limit, status=status)


@router.get(ORDER, response_model=OrderOut, responses=NOT_FOUND)
async def get_order(order_id: OrderId, actor: CurrentActor, uow: UnitOfWork) -> OrderView:
    return await services.get_order(uow, actor, order_id)


@router.post(f"{ORDER}/cancel", response_model=OrderOut, responses={**NOT_FOUND, **CONFLICT})
async def cancel_order(order_id: OrderId, actor: CurrentActor, uow: UnitOfWork) -> OrderView:
    return await services.cancel_order(uow, actor, order_id)


@router.post(
    f"{ORDER}/ship",
    response_model=OrderOut,
    responses={**ADMIN_ONLY, **NOT_FOUND, **CONFLICT},
    dependencies=[Depends(require_admin)],
)
async def ship_order(order_id: OrderId, uow: UnitOfWork) -> OrderView:
    return await services.ship_order(uow, order_id)
