"""The outbox relay on an in-memory outbox and broker: order, marks, the lease, failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from service_layer.relay import Relay, RelayPolicy
from service_layer.relay_ports import BrokerUnavailable, OutboxRecord
from tests.fakes.relay import FakeBroker, FakeOutbox
from tests.polling import eventually

START = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)
POLICY = RelayPolicy(poll_interval=0.001, batch_size=3, retry_first=0.001, retry_max=0.002)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def record(position: int, subject: str = "orders/1") -> OutboxRecord:
    return OutboxRecord(
        position=position,
        id=f"event-{position}",
        type="order.placed",
        subject=subject,
        data="{}",
        occurred_at=START - timedelta(seconds=10 - position),
    )


def outbox_of(count: int) -> FakeOutbox:
    # Shuffled on purpose: the relay follows positions, not the order rows are stored in.
    return FakeOutbox(records=[record(p) for p in (3, 1, 5, 2, 4) if p <= count])


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_publishes_unsent_rows_in_position_order_then_marks_them() -> None:
    outbox, broker = outbox_of(5), FakeBroker()
    relay = Relay(outbox, broker, POLICY, name="a", clock=Clock())

    assert await relay.relay_batch() == 3  # one batch at a time
    assert await relay.relay_batch() == 2
    assert await relay.relay_batch() == 0

    assert [r.position for r in broker.stored] == [1, 2, 3, 4, 5]
    assert sorted(outbox.published_at) == [1, 2, 3, 4, 5]


async def test_a_failed_publish_keeps_that_row_and_the_later_ones_for_the_next_attempt() -> None:
    outbox, broker = outbox_of(5), FakeBroker(fail_at=2)
    relay = Relay(outbox, broker, POLICY, name="a", clock=Clock())
    failures = sample("stockroom_event_publish_failures_total")

    with pytest.raises(BrokerUnavailable):
        await relay.relay_batch()
    assert sorted(outbox.published_at) == [1]  # published before the failure: marked

    while await relay.relay_batch():
        pass
    assert [r.position for r in broker.stored] == [1, 2, 3, 4, 5]
    assert sample("stockroom_event_publish_failures_total") == failures + 1


async def test_a_row_the_broker_already_has_is_reported_duplicate_and_marked() -> None:
    outbox, broker = outbox_of(1), FakeBroker()
    broker.stored.append(record(1))  # published by a relay killed before its mark
    duplicates = sample("stockroom_events_published_total", {"duplicate": "true"})

    assert await Relay(outbox, broker, POLICY, name="a", clock=Clock()).relay_batch() == 1

    assert len(broker.stored) == 1
    assert sorted(outbox.published_at) == [1]
    assert sample("stockroom_events_published_total", {"duplicate": "true"}) == duplicates + 1


async def test_only_the_lease_holder_publishes_until_its_lease_expires() -> None:
    outbox, broker, clock = outbox_of(5), FakeBroker(), Clock()
    first = Relay(outbox, broker, POLICY, name="first", clock=clock)
    second = Relay(outbox, broker, POLICY, name="second", clock=clock)

    assert await first.relay_batch() == 3
    assert await second.relay_batch() == 0  # the lease is first's
    clock.now += POLICY.lease  # first stopped renewing (killed): its lease runs out
    assert await second.relay_batch() == 2
    assert await first.relay_batch() == 0  # and does not come back while second renews

    assert [r.position for r in broker.stored] == [1, 2, 3, 4, 5]


async def test_a_relay_that_lost_its_lease_mid_batch_stops_publishing() -> None:
    outbox, clock = outbox_of(5), Clock()

    class SlowBroker(FakeBroker):
        async def publish(self, record: OutboxRecord) -> bool:
            clock.now += POLICY.lease * 0.6  # each publish outlasts half a lease
            if record.position == 1:
                await outbox.take_lease("other", clock.now + POLICY.lease, POLICY.lease)
            return await super().publish(record)

    # The lease is renewed before row 2 (half of it gone) but "other" took it meanwhile.
    relay = Relay(outbox, SlowBroker(), POLICY, name="a", clock=clock)
    outbox.lease.expires_at = None
    assert await relay.relay_batch() == 1
    assert sorted(outbox.published_at) == [1]


async def test_run_retries_while_the_broker_is_down_then_drains_in_order_and_stops() -> None:
    outbox, broker = outbox_of(5), FakeBroker(down=True)
    relay = Relay(outbox, broker, POLICY, name="a")
    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))

    await eventually(lambda: broker.attempts >= 3)  # failed, backed off, tried again
    assert outbox.published_at == {}
    broker.down = False
    await eventually(lambda: len(outbox.published_at) == 5)
    stop.set()
    await running

    assert [r.position for r in broker.stored] == [1, 2, 3, 4, 5]
    assert outbox.lease.holder is None  # given up on the way out, no wait for a successor


async def test_the_backlog_is_measured_as_count_and_oldest_age() -> None:
    outbox, clock = outbox_of(5), Clock()
    relay = Relay(outbox, FakeBroker(), POLICY, name="a", clock=clock)
    other = Relay(outbox, FakeBroker(), POLICY, name="b", clock=clock)

    assert await relay.holds_lease()
    await relay.measure_backlog()
    assert sample("stockroom_outbox_backlog") == 5
    assert sample("stockroom_outbox_oldest_unsent_seconds") == 9.0  # row 1, 9 s old

    assert not await other.holds_lease()
    await other.measure_backlog()  # not its to measure: it shows nothing
    assert sample("stockroom_outbox_backlog") == 0

    while await relay.relay_batch():
        pass
    await relay.measure_backlog()
    assert sample("stockroom_outbox_backlog") == 0
    assert sample("stockroom_outbox_oldest_unsent_seconds") == 0.0


async def test_a_relay_that_cannot_reach_the_broker_gives_its_lease_to_one_that_can() -> None:
    """Regression: a relay whose broker was unreachable kept renewing its lease between
    retries, so a relay on a host that could reach the broker waited forever."""
    outbox, clock = outbox_of(5), Clock()
    cut_off, reachable = FakeBroker(down=True), FakeBroker()
    stuck = Relay(outbox, cut_off, POLICY, name="stuck", clock=clock)
    healthy = Relay(outbox, reachable, POLICY, name="healthy", clock=clock)
    stop = asyncio.Event()
    running = asyncio.create_task(stuck.run(stop))

    await eventually(lambda: cut_off.attempts >= 2)  # failed, retried: still failing
    await eventually(healthy.relay_batch)  # the clock stands still: no lease has expired
    while await healthy.relay_batch():
        pass
    stop.set()
    await running

    assert [r.position for r in reachable.stored] == [1, 2, 3, 4, 5]
    assert outbox.lease.holder == "healthy"


def test_the_pause_between_retries_doubles_up_to_its_cap_however_long_the_outage() -> None:
    """Regression: the pause was ``retry_first * 2 ** (failures - 1)``: after about a thousand
    failures in a row (eight hours of a broker down, at 30 s a retry) the int no longer fit
    a float, and the OverflowError stopped the relay."""
    policy = RelayPolicy(retry_first=0.5, retry_max=30.0)

    assert [policy.retry_pause(n) for n in (1, 2, 3, 7, 8)] == [0.5, 1.0, 2.0, 30.0, 30.0]
    assert policy.retry_pause(5_000) == 30.0
