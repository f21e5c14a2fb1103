"""The failed-login counters' contract: the fake, SQLite and PostgreSQL count alike, and
concurrent failures on one key are each counted (an atomic increment, not read-then-write)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from adapters.database import Database
from domain.login_throttle import ThrottleKey, ThrottleScope
from tests.integration.conftest import UowFactory
from tests.integration.units import unit_of_work

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
DAY_AGO = NOW - timedelta(days=1)


def new_key(scope: ThrottleScope = ThrottleScope.ACCOUNT_AT_ADDRESS) -> ThrottleKey:
    return ThrottleKey(scope, f"{uuid.uuid4().hex}@example.com 192.0.2.1")


async def count_failure(uow_factory: UowFactory, key: ThrottleKey, at: datetime = NOW) -> int:
    async with uow_factory() as uow:
        failures = await uow.login_failures.add_failure(key, at, forget_before=DAY_AGO)
        await uow.commit()
    return failures


async def test_failures_count_up_from_one_and_read_back_with_their_block(
    uow_factory: UowFactory,
) -> None:
    key, other = new_key(), new_key(ThrottleScope.ADDRESS)
    assert [await count_failure(uow_factory, key) for _ in range(3)] == [1, 2, 3]
    later = NOW + timedelta(seconds=5)
    async with uow_factory() as uow:
        assert await uow.login_failures.add_failure(other, later, forget_before=DAY_AGO) == 1
        await uow.login_failures.block(other, later + timedelta(seconds=1))
        await uow.commit()

    async with uow_factory() as uow:
        found = {counter.key: counter for counter in await uow.login_failures.get([key, other])}
        assert await uow.login_failures.get([new_key()]) == []
    assert (found[key].failures, found[key].last_failure_at, found[key].blocked_until) == (
        3,
        NOW,
        None,
    )
    assert found[other].blocked_until == later + timedelta(seconds=1)
    assert found[other].key.scope is ThrottleScope.ADDRESS
    assert found[other].last_failure_at.utcoffset() == timedelta(0)


async def test_a_counter_quiet_since_before_the_cut_off_starts_again_unblocked(
    uow_factory: UowFactory,
) -> None:
    key = new_key()
    old = DAY_AGO - timedelta(seconds=1)
    async with uow_factory() as uow:
        await uow.login_failures.add_failure(key, old, forget_before=old - timedelta(days=1))
        await uow.login_failures.add_failure(key, old, forget_before=old - timedelta(days=1))
        await uow.login_failures.block(key, old + timedelta(minutes=15))
        await uow.commit()

    assert await count_failure(uow_factory, key) == 1
    async with uow_factory() as uow:
        (counter,) = await uow.login_failures.get([key])
    assert (counter.failures, counter.last_failure_at, counter.blocked_until) == (1, NOW, None)


async def test_uncommitted_failures_are_not_counted(uow_factory: UowFactory) -> None:
    key = new_key()
    await count_failure(uow_factory, key)
    async with uow_factory() as uow:
        await uow.login_failures.add_failure(key, NOW, forget_before=DAY_AGO)
        await uow.login_failures.forget(new_key())  # a counter that is not there: no error
    async with uow_factory() as uow:
        assert [c.failures for c in await uow.login_failures.get([key])] == [1]


async def test_forget_deletes_one_counter_and_forget_stale_the_old_ones(
    uow_factory: UowFactory,
) -> None:
    kept, forgotten = new_key(), new_key()
    ancient = [new_key(), new_key(ThrottleScope.ACCOUNT)]
    long_ago = datetime(2000, 1, 1, tzinfo=UTC)
    for key in (kept, forgotten):
        await count_failure(uow_factory, key)
    for key in ancient:
        await count_failure(uow_factory, key, at=long_ago)

    async with uow_factory() as uow:
        await uow.login_failures.forget(forgotten)
        purged = await uow.login_failures.forget_stale(long_ago + timedelta(days=1))
        await uow.commit()

    assert purged == 2
    async with uow_factory() as uow:
        left = await uow.login_failures.get([kept, forgotten, *ancient])
    assert [counter.key for counter in left] == [kept]


async def test_concurrent_failures_on_one_key_are_each_counted(database: Database) -> None:
    """Twenty units count the same key at once (on PostgreSQL, on as many connections): each
    gets its own number, as separate processes would."""
    key = new_key()

    async def one() -> int:
        return await count_failure(lambda: unit_of_work(database), key)

    counts = await asyncio.gather(*(one() for _ in range(20)))
    assert sorted(counts) == list(range(1, 21))
