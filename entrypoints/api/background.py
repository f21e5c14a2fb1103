"""Work that runs after the response is sent, on what it is handed, never the request's.

The request's unit of work is long closed by then (its service committed and returned), so a
background task never touches the request's session: the route hands it the read port.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from service_layer.metrics import LOW_STOCK_ALERTS
from service_layer.reads import AbstractReads
from service_layer.services import items as item_services

log = logging.getLogger(__name__)


async def alert_low_stock(reads: AbstractReads, item_ids: Sequence[int], threshold: int) -> None:
    """``reads``: ones that have seen the sale (the primary's)."""
    try:
        running_low = await item_services.low_stock(reads, item_ids, threshold=threshold)
    except Exception:
        # The sale already succeeded; a missed alert must not turn into an error anywhere.
        log.exception("low-stock check failed for items %s", list(item_ids))
        return
    for item in running_low:
        LOW_STOCK_ALERTS.inc()
        log.warning("low stock: %s (%s) has %d left", item.sku, item.title, item.quantity)
