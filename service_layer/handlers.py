"""The shop's in-process event handlers (registered in ``entrypoints/container.py``).

Each takes one outbox row (``OutboxMessage``) and may run more than once for it
(``service_layer/messagebus.py`` says when): what it does must bear a repeat.
"""

from __future__ import annotations

import logging

from service_layer.metrics import LOW_STOCK_ALERTS
from service_layer.outbox import OutboxMessage

log = logging.getLogger(__name__)


async def alert_low_stock(message: OutboxMessage) -> None:
    """``stock.low``: a sale left an item at or below the threshold. The stock told is what
    the sale left, as its own transaction saw it: the event says what happened then."""
    item = message.data
    LOW_STOCK_ALERTS.inc()
    log.warning("low stock: %s (%s) has %d left", item["sku"], item["title"], item["quantity"])
