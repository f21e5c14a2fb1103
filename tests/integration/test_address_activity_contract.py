"""The throttles' activity counters (sign-ups per address, known clients): the fake, SQLite
and PostgreSQL count alike, windows restart alike, and concurrent sign-ups from one address
are each counted (an atomic increment: two cannot both take the last place)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from adapters.database import Database
from domain.address_activity import Activity, ActivityCounter, ActivityKey
from tests.integration.conftest import UowFactory
from tests.integration.units import unit_of_work

NOW = datetime(2026, 12, 6, 12, 0, 0, 123456, tzinfo=UTC)
HOUR_AGO = NOW - timedelta(hours=1)


def new_key(kind: Activity = Activity.SIGN_UP) -> ActivityKey:
    return ActivityKey(kind, f"2001:db8:{uuid.uuid4().hex[:4]}::/64")


async def count(
    uow_factory: UowFactory,
    key: ActivityKey,
    at: datetime = NOW,
    restart_before: datetime = HOUR_AGO,
) -> ActivityCounter:
    async with uow_factory() as uow:
        counted = await uow.login_failures.count_activity(key, at, restart_before)
        await uow.commit()
    return counted


async def test_events_count_up_within_a_window_and_read_back(uow_factory: UowFactory) -> None:
    key, other = new_key(), new_key(Activity.LOGIN)
    later = NOW + timedelta(minutes=5)
    assert [(await count(uow_factory, key, at=at)).count for at in (NOW, later)] == [1, 2]
    await count(uow_factory, other)

    async with uow_factory() as uow:
        found = {
            counter.key: counter for counter in await uow.login_failures.get_activity([key, other])
        }
        assert await uow.login_failures.get_activity([new_key()]) == []
    assert found[key] == ActivityCounter(key, count=2, started_at=NOW, last_at=later)
    assert found[other].key.kind is Activity.LOGIN
    assert found[key].started_at.utcoffset() == timedelta(0)


async def test_a_window_that_started_before_the_cut_off_starts_again(
    uow_factory: UowFactory,
) -> None:
    key = new_key()
    await count(uow_factory, key, at=HOUR_AGO - timedelta(seconds=1))
    await count(uow_factory, key, at=HOUR_AGO - timedelta(seconds=1))
    assert await count(uow_factory, key) == ActivityCounter(key, 1, NOW, NOW)


async def test_uncommitted_events_are_not_counted_and_stale_ones_are_purged(
    uow_factory: UowFactory,
) -> None:
    kept, ancient = new_key(), new_key(Activity.LOGIN)
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    await count(uow_factory, kept)
    await count(uow_factory, ancient, at=long_ago, restart_before=long_ago)
    async with uow_factory() as uow:
        await uow.login_failures.count_activity(kept, NOW, HOUR_AGO)  # rolled back

    async with uow_factory() as uow:
        purged = await uow.login_failures.forget_stale_activity(long_ago + timedelta(days=1))
        await uow.commit()
    assert purged == 1
    async with uow_factory() as uow:
        left = await uow.login_failures.get_activity([kept, ancient])
    assert [(counter.key, counter.count) for counter in left] == [(kept, 1)]


async def test_concurrent_sign_ups_from_one_address_are_each_counted(database: Database) -> None:
    key = new_key()

    async def one() -> int:
        return (await count(lambda: unit_of_work(database), key)).count

    counts = await asyncio.gather(*(one() for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))
