"""What the service layer counts (prometheus-client, the de-facto standard exposition).

Served at ``GET /metrics`` (``entrypoints/api/http_metrics.py``), summed across uvicorn
workers in multiprocess mode; the README's "Operating Stockroom" says what each one is for.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Units of work, by the use case that opened them (service_layer.use_cases).
UNITS_OPEN = Gauge(
    "stockroom_units_of_work_open",
    "Units of work open right now (each holds a connection from its first statement on).",
    multiprocess_mode="livesum",
)
UNIT_SECONDS = Histogram(
    "stockroom_unit_of_work_seconds",
    "How long units of work were open, from enter to exit.",
    ["use_case"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UNIT_OUTCOMES = Counter(
    "stockroom_units_of_work",
    "Units of work by how they ended: committed, rolled_back (left without a commit), failed "
    "(left through an error).",
    ["use_case", "outcome"],
)
UNITS_HELD_TOO_LONG = Counter(
    "stockroom_units_of_work_held_too_long",
    "Units of work still open after STOCKROOM_UOW_WARN_SECONDS (each also logs a warning).",
    ["use_case"],
)
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
