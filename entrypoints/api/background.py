"""Work that runs after the response is sent, each piece in a unit of work of its own.

The request's unit of work is long closed by then (its service committed and returned), so a
background task never touches the request's session: it asks the container for what it needs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from entrypoints.container import Container
from service_layer.metrics import LOW_STOCK_ALERTS
from service_layer.services import items as item_services

log = logging.getLogger(__name__)


async def alert_low_stock(
    container: Container, item_ids: Sequence[int], position: str | None
) -> None:
    """``position``: the sale's, so that a replica serving the check has seen the sale."""
    threshold = container.settings().low_stock_threshold
    reads = container.reads().after(position)
    try:
        running_low = await item_services.low_stock(reads, item_ids, threshold=threshold)
    except Exception:
        # The sale already succeeded; a missed alert must not turn into an error anywhere.
        log.exception("low-stock check failed for items %s", list(item_ids))
        return
    for item in running_low:
        LOW_STOCK_ALERTS.inc()
        log.warning("low stock: %s (%s) has %d left", item.sku, item.title, item.quantity)
