"""The relay's windows of publishes in flight at once (``Relay.relay_batch``): rows of
different aggregates share the round trip; rows of one aggregate never do, so a failure can
never put an aggregate's later event before its earlier one."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import pytest

from service_layer.relay import Relay, RelayPolicy
from service_layer.relay_ports import BrokerUnavailable, OutboxRecord
from tests.fakes.relay import FakeBroker, FakeOutbox

START = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
POLICY = RelayPolicy(batch_size=10, in_flight=3)


def record(position: int, subject: str) -> OutboxRecord:
    return OutboxRecord(position, f"event-{position}", "order.placed", subject, "{}", START)


class WatchedBroker(FakeBroker):
    """Notes which publishes were in flight together (each yields once before it is kept)."""

    def __init__(self, fail_at: int | None = None) -> None:
        super().__init__(fail_at=fail_at)
        self.in_flight: Counter[str] = Counter()
        self.together: list[list[int]] = []
        self._now: list[int] = []

    async def publish(self, record: OutboxRecord) -> bool:
        self._now.append(record.position)
        self.in_flight[record.subject] += 1
        assert self.in_flight[record.subject] == 1, "one aggregate's rows in flight together"
        self.together.append(sorted(self._now))
        await asyncio.sleep(0)  # the acknowledgement's round trip
        self.in_flight[record.subject] -= 1
        self._now.remove(record.position)
        return await super().publish(record)


async def test_rows_of_different_aggregates_are_in_flight_together_up_to_the_window() -> None:
    rows = [record(p, f"orders/{p}") for p in range(1, 6)]
    broker = WatchedBroker()
    relay = Relay(FakeOutbox(records=rows), broker, POLICY, name="a")

    assert await relay.relay_batch() == 5

    assert max(len(t) for t in broker.together) == 3  # the window, not one at a time
    assert [r.position for r in broker.stored] == [1, 2, 3, 4, 5]


async def test_a_row_whose_aggregate_is_in_flight_waits_for_the_next_window() -> None:
    subjects = ["orders/1", "orders/2", "orders/1", "orders/1"]
    rows = [record(p, s) for p, s in enumerate(subjects, start=1)]
    broker = WatchedBroker()
    relay = Relay(FakeOutbox(records=rows), broker, POLICY, name="a")

    assert await relay.relay_batch() == 4

    assert broker.together[:2] == [[1], [1, 2]]  # row 3 (orders/1 again) was not sent with 1
    assert [r.position for r in broker.stored] == [1, 2, 3, 4]


async def test_a_failure_keeps_its_aggregate_s_later_rows_unsent_and_marks_the_others() -> None:
    # Windows: [1 (orders/1), 2 (orders/2)], then [3 (orders/1), 4 (orders/3)].
    subjects = ["orders/1", "orders/2", "orders/1", "orders/3"]
    outbox = FakeOutbox(records=[record(p, s) for p, s in enumerate(subjects, start=1)])
    broker = WatchedBroker(fail_at=1)  # row 1's publish fails
    relay = Relay(outbox, broker, POLICY, name="a")

    with pytest.raises(BrokerUnavailable):
        await relay.relay_batch()
    assert sorted(outbox.published_at) == [2]  # acknowledged in the failed window: marked
    assert broker.attempts == 2  # the window after the failure was never sent

    while await relay.relay_batch():
        pass
    assert [r.position for r in broker.stored] == [2, 1, 3, 4]  # orders/1: 1 before 3
