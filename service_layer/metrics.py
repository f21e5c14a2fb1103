"""Counters the service layer keeps (prometheus-client: the de-facto standard exposition)."""

from __future__ import annotations

from prometheus_client import Counter

TRANSACTION_RETRIES = Counter(
    "stockroom_transaction_retries",
    "Units of work run again after the database aborted them (serialization failure, deadlock).",
    ["use_case"],
)
IDEMPOTENT_REPLAYS = Counter(
    "stockroom_idempotent_replays",
    "Requests answered from an earlier request with the same Idempotency-Key.",
)
LOW_STOCK_ALERTS = Counter(
    "stockroom_low_stock_alerts",
    "Items found at or below the low-stock threshold after a sale.",
)
