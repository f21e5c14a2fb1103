"""What the service layer counts itself: use cases run again by cause, and orders by event.
(Units of work are counted by their observer: tests/unit/test_unit_observers.py.)"""

from __future__ import annotations

from prometheus_client import REGISTRY

from service_layer.services import orders as order_services
from tests.fakes import InMemoryStore
from tests.unit.order_support import ConflictingCommits, add_user, lines
from tests.unit.support import seed_one


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_retry_is_counted_with_its_cause_and_the_orders_by_event(
    store: InMemoryStore,
) -> None:
    await seed_one(store, sku="M-2", quantity=5)
    buyer = await add_user(store)
    retries = sample(
        "stockroom_transaction_retries_total", use_case="place_order", cause="transient_conflict"
    )
    placed = sample("stockroom_orders_total", event="placed")

    await order_services.place_order(
        ConflictingCommits(store, conflicts=1), buyer, lines(("M-2", 1))
    )

    assert (
        sample(
            "stockroom_transaction_retries_total",
            use_case="place_order",
            cause="transient_conflict",
        )
        == retries + 1
    )
    assert sample("stockroom_orders_total", event="placed") == placed + 1
