"""What the service layer counts (prometheus-client, the de-facto standard exposition): the
shop's events and retried use cases. Units of work are counted by their observer
(``adapters.unit_observers``), pools by ``adapters.database_metrics``.

Served at ``GET /metrics`` (``entrypoints/api/http_metrics.py``), summed across uvicorn
workers in multiprocess mode; docs/operations.md says what each one is for.
"""

from __future__ import annotations

from prometheus_client import Counter

TRANSACTION_RETRIES = Counter(
    "stockroom_transaction_retries",
    "Use cases run again after the database aborted their unit of work, by cause.",
    ["use_case", "cause"],
)
# The shop.
ORDERS = Counter("stockroom_orders", "Orders placed, cancelled and shipped.", ["event"])
IDEMPOTENT_REPLAYS = Counter(
    "stockroom_idempotent_replays",
    "Requests answered from an earlier request with the same Idempotency-Key.",
)
LOW_STOCK_ALERTS = Counter(
    "stockroom_low_stock_alerts",
    "Items found at or below the low-stock threshold after a sale.",
)
