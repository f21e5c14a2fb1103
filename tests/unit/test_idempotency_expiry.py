"""Idempotency keys expire and are purged (issue 14, finding 6), on the fake unit of work with
the clock handed in: a key older than its time to live no longer replays (the request is
new), and the purge removes expired keys in batches, one unit of work each, so that
place-then-cancel with fresh keys cannot grow the store without bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.idempotency import DEFAULT_KEY_TTL, IdempotencyRecord
from service_layer.actor import Actor
from service_layer.services import orders as services
from service_layer.services.maintenance import purge_expired_idempotency_keys
from service_layer.views import OrderView
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.order_support import add_user, lines, shelf, stock

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def place(
    store: InMemoryStore,
    actor: Actor,
    key: str,
    now: datetime,
    *wanted: tuple[str, int],
    ttl: timedelta = DEFAULT_KEY_TTL,
) -> OrderView:
    return await services.place_order(
        FakeUnitOfWork(store), actor, lines(*wanted), idempotency_key=key, now=now, key_ttl=ttl
    )


def test_the_default_time_to_live_is_a_day() -> None:
    assert DEFAULT_KEY_TTL.total_seconds() == 24 * 3600


async def test_a_key_replays_until_it_expires_then_the_request_is_new(
    store: InMemoryStore,
) -> None:
    await shelf(store, ("A-1", 10, "1.00"))
    alice = await add_user(store)
    first = await place(store, alice, "k-1", T0, ("A-1", 2))

    within = await place(store, alice, "k-1", T0 + DEFAULT_KEY_TTL - HOUR, ("A-1", 2))
    after = await place(store, alice, "k-1", T0 + DEFAULT_KEY_TTL + HOUR, ("A-1", 2))

    assert within.id == first.id
    assert after.id != first.id
    assert stock(store) == {"A-1": 6}  # the expired key's request took stock again
    record = store.idempotency[(alice.user_id, "k-1")]
    assert (record.order_id, record.created_at) == (after.id, T0 + DEFAULT_KEY_TTL + HOUR)
    # And the renewed key replays the new order from then on.
    again = await place(store, alice, "k-1", T0 + DEFAULT_KEY_TTL + 2 * HOUR, ("A-1", 2))
    assert again.id == after.id


async def test_an_expired_key_may_come_back_with_different_lines(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 10, "1.00"), ("B-1", 10, "1.00"))
    alice = await add_user(store)
    await place(store, alice, "k-1", T0, ("A-1", 1))

    later = await place(store, alice, "k-1", T0 + 2 * DEFAULT_KEY_TTL, ("B-1", 3))

    assert [line.sku for line in later.lines] == ["B-1"]


async def test_the_time_to_live_is_the_callers(store: InMemoryStore) -> None:
    await shelf(store, ("A-1", 10, "1.00"))
    alice = await add_user(store)
    first = await place(store, alice, "k-1", T0, ("A-1", 1))

    replayed = await place(store, alice, "k-1", T0 + 2 * HOUR, ("A-1", 1), ttl=3 * HOUR)
    renewed = await place(store, alice, "k-1", T0 + 4 * HOUR, ("A-1", 1), ttl=3 * HOUR)

    assert replayed.id == first.id
    assert renewed.id != first.id


def _records(store: InMemoryStore, customer: int, count: int, created_at: datetime) -> None:
    for n in range(count):
        key = f"{created_at:%H%M}-{n}"
        store.idempotency[(customer, key)] = IdempotencyRecord(
            customer, key, "digest", order_id=n + 1, created_at=created_at
        )


async def test_the_purge_removes_expired_keys_in_batches_one_unit_each(
    store: InMemoryStore,
) -> None:
    alice = await add_user(store)
    _records(store, alice.user_id, 2_500, T0 - DEFAULT_KEY_TTL - HOUR)  # expired
    _records(store, alice.user_id, 10, T0 - DEFAULT_KEY_TTL + HOUR)  # still valid
    uow = FakeUnitOfWork(store)

    removed = await purge_expired_idempotency_keys(uow, T0, batch_size=1_000)

    assert removed == 2_500
    assert (uow.begins, uow.commits) == (3, 3)  # 1,000 + 1,000 + 500
    assert len(store.idempotency) == 10
    assert all(r.created_at > T0 - DEFAULT_KEY_TTL for r in store.idempotency.values())


async def test_a_purge_with_nothing_expired_takes_one_short_unit(store: InMemoryStore) -> None:
    alice = await add_user(store)
    _records(store, alice.user_id, 5, T0 - HOUR)
    uow = FakeUnitOfWork(store)

    assert await purge_expired_idempotency_keys(uow, T0) == 0
    assert uow.begins == 1
    assert len(store.idempotency) == 5


async def test_a_key_exactly_one_ttl_old_has_expired(store: InMemoryStore) -> None:
    alice = await add_user(store)
    _records(store, alice.user_id, 1, T0 - DEFAULT_KEY_TTL)

    assert await purge_expired_idempotency_keys(FakeUnitOfWork(store), T0) == 1


async def test_place_then_cancel_with_fresh_keys_stays_bounded_with_hourly_purges(
    store: InMemoryStore,
) -> None:
    """The attack of finding 6, two simulated days long: every hour a customer places and
    cancels orders with fresh keys and the purge runs; the keys stored never exceed those
    placed within the last time to live."""
    await shelf(store, ("A-1", 5, "1.00"))
    mallory = await add_user(store)
    per_hour = 2
    placed_at: list[datetime] = []

    for hour in range(50):
        now = T0 + hour * HOUR
        for n in range(per_hour):
            order = await place(store, mallory, f"h{hour}-{n}", now, ("A-1", 1))
            await services.cancel_order(FakeUnitOfWork(store), mallory, order.id)
            placed_at.append(now)
        await purge_expired_idempotency_keys(FakeUnitOfWork(store), now)

        young = sum(1 for at in placed_at if at > now - DEFAULT_KEY_TTL)
        assert len(store.idempotency) <= young

    assert len(store.idempotency) == 24 * per_hour  # a day's worth, not two
