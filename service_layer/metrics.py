"""What the service layer counts (prometheus-client, the de-facto standard exposition): the
shop's events and retried use cases. Units of work are counted by their observer
(``adapters.unit_observers``), pools by ``adapters.database_metrics``.

Served at ``GET /metrics`` (``entrypoints/api/http_metrics.py``), summed across uvicorn
workers in multiprocess mode; docs/operations.md says what each one is for.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

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
# Domain events' in-process handlers (service_layer/messagebus.py), by handler name.
HANDLER_FAILURES = Counter(
    "stockroom_event_handler_failures",
    "Calls of an event handler that raised (each is retried, or parked once out of attempts).",
    ["handler"],
)
PARKED_HANDLER_CALLS = Counter(
    "stockroom_event_handler_calls_parked",
    "Calls of an event handler parked after their last attempt failed "
    "(listed and retried by `stockroom events list|retry`).",
    ["handler"],
)
PARKED_HANDLER_CALLS_NOW = Gauge(
    "stockroom_event_handler_calls_parked_now",
    "Handler calls parked right now, as the dispatcher last counted them (every worker counts "
    "the same table: the largest is the freshest after a retry or a parking).",
    multiprocess_mode="max",
)
