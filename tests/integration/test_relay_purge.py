"""``stockroom maintenance purge`` removes outbox rows published longer ago than
STOCKROOM_EVENTS_RETENTION_HOURS, and only rows nothing still needs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, update

from adapters.database import Database
from adapters.orm import event_handling, outbox
from service_layer.services.maintenance import purge_finished_handler_calls
from tests.integration.cli_support import Target, stockroom
from tests.integration.relay_support import add_rows, rows_for_orders
from tests.integration.units import unit_of_work


async def test_purge_removes_rows_published_before_the_retention_that_nothing_needs(
    fresh_database: Database,
) -> None:
    rows = rows_for_orders(3)  # six rows
    await add_rows(fresh_database, rows)
    now = datetime.now(UTC)
    long_ago, lately = now - timedelta(hours=49), now - timedelta(hours=47)
    # id -> (published_at, dispatched_at, its handler call's done_at or None for no call)
    states = {
        "purged": (long_ago, long_ago, None),
        "purged, its call done": (long_ago, long_ago, long_ago),
        "kept: its call parked": (long_ago, long_ago, "parked"),
        "kept: published lately": (lately, lately, None),
        "kept: unpublished": (None, long_ago, None),
        "kept: not dispatched": (long_ago, None, None),
    }
    named = dict(zip(states, rows, strict=True))
    async with fresh_database.engine.begin() as connection:
        positions = dict((await connection.execute(select(outbox.c.id, outbox.c.position))).all())
        for name, (published, dispatched, call) in states.items():
            position = positions[named[name].id]
            values = {"published_at": published, "dispatched_at": dispatched}
            await connection.execute(
                update(outbox).where(outbox.c.position == position).values(values)
            )
            if call is not None:
                done = call if isinstance(call, datetime) else None
                parked = long_ago if call == "parked" else None
                await connection.execute(
                    insert(event_handling).values(
                        position=position,
                        handler="notify",
                        next_attempt_at=long_ago,
                        done_at=done,
                        parked_at=parked,
                    )
                )

    result = stockroom(
        "maintenance",
        "purge",
        url=Target.of(fresh_database).url,
        events_retention_hours="48",
        events_url="nats://127.0.0.1:4222",  # a broker is configured: published rows go
    )

    assert result.returncode == 0, result.stderr
    assert "removed 2 published outbox rows" in result.stdout
    async with fresh_database.engine.connect() as connection:
        left = set((await connection.scalars(select(outbox.c.id))).all())
    assert left == {named[name].id for name in states if name.startswith("kept")}


async def test_with_no_broker_purge_removes_rows_that_occurred_before_the_retention(
    fresh_database: Database,
) -> None:
    """Nothing is ever published without STOCKROOM_EVENTS_URL: the embedded default's outbox
    must still not grow for ever."""
    old, recent, parked = rows_for_orders(1) + rows_for_orders(1, start=2)[:1]
    await add_rows(fresh_database, [old, recent, parked])
    long_ago = datetime.now(UTC) - timedelta(hours=49)
    async with fresh_database.engine.begin() as connection:
        await connection.execute(update(outbox).values(dispatched_at=long_ago))
        for row in (old, parked):
            await connection.execute(
                update(outbox).where(outbox.c.id == row.id).values(occurred_at=long_ago)
            )
        position = await connection.scalar(
            select(outbox.c.position).where(outbox.c.id == parked.id)
        )
        await connection.execute(
            insert(event_handling).values(
                position=position, handler="notify", next_attempt_at=long_ago, parked_at=long_ago
            )
        )

    result = stockroom(
        "maintenance", "purge", url=Target.of(fresh_database).url, events_retention_hours="48"
    )

    assert result.returncode == 0, result.stderr
    assert "removed 1 outbox rows" in result.stdout
    async with fresh_database.engine.connect() as connection:
        left = set((await connection.scalars(select(outbox.c.id))).all())
    assert left == {recent.id, parked.id}


async def test_purge_removes_handler_calls_done_before_the_retention_only(
    fresh_database: Database,
) -> None:
    """``event_handling`` rows are receipts once done: they go after the retention too, while
    pending and parked calls stay whatever their age (a parked one awaits ``events retry``)."""
    now = datetime.now(UTC)
    long_ago, lately = now - timedelta(hours=49), now - timedelta(hours=47)
    # position -> (done_at, parked_at): no outbox rows needed, there is no foreign key.
    calls = {
        1: (long_ago, None),  # purged
        2: (long_ago, None),  # purged
        3: (lately, None),  # kept: done lately
        4: (None, None),  # kept: pending since long ago
        5: (None, long_ago),  # kept: parked
    }
    async with fresh_database.engine.begin() as connection:
        await connection.execute(
            insert(event_handling),
            [
                {
                    "position": position,
                    "handler": "notify",
                    "next_attempt_at": long_ago,
                    "done_at": done,
                    "parked_at": parked,
                }
                for position, (done, parked) in calls.items()
            ],
        )

    result = stockroom(
        "maintenance", "purge", url=Target.of(fresh_database).url, events_retention_hours="48"
    )

    assert result.returncode == 0, result.stderr
    assert "removed 2 finished handler calls" in result.stdout
    async with fresh_database.engine.connect() as connection:
        left = set((await connection.scalars(select(event_handling.c.position))).all())
    assert left == {3, 4, 5}


async def test_finished_handler_calls_go_batch_after_batch_oldest_first(
    fresh_database: Database,
) -> None:
    """Batches smaller than the work: each one a unit of work of its own, until one is short."""
    long_ago = datetime.now(UTC) - timedelta(hours=49)
    async with fresh_database.engine.begin() as connection:
        await connection.execute(
            insert(event_handling),
            [
                {
                    "position": position,
                    "handler": handler,
                    "next_attempt_at": long_ago,
                    "done_at": long_ago if position != 3 else None,  # 3 is still pending
                }
                for position in range(1, 5)
                for handler in ("notify", "audit")
            ],
        )

    cutoff = long_ago + timedelta(hours=1)
    removed = await purge_finished_handler_calls(unit_of_work(fresh_database), cutoff, batch_size=2)

    assert removed == 6
    async with fresh_database.engine.connect() as connection:
        left = (await connection.execute(select(event_handling.c.position))).scalars().all()
    assert sorted(left) == [3, 3]
