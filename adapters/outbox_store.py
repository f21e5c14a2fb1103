"""The outbox as the relay sees it (``service_layer.relay_ports.RelayOutbox``), in plain SQL
on the database object: short transactions of their own, outside any unit of work, since the
relay is no use case of the shop.

Writes take the SQLite writer queue's turn like a unit of work (``adapters.sqlite_writer_
queue``), so an in-process relay queues fairly with the API's writers. Reads run outside any
transaction (the database's reader). Nothing here holds session state between statements:
every statement works through PgBouncer in transaction mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.database import Database
from adapters.orm import event_handling, leases, outbox
from service_layer.errors import DatabaseUnavailable
from service_layer.relay_ports import Backlog, OutboxRecord

OUTBOX_LEASE = "outbox"  # the one lease there is so far: who relays the outbox
_EXPIRED = datetime(1970, 1, 1, tzinfo=UTC)


class SqlRelayOutbox:
    """What a statement changed is read from its RETURNING rows, never ``rowcount``: psycopg
    (the driver behind a transaction-mode pooler) reports -1 for some of them."""

    def __init__(self, database: Database) -> None:
        self._database = database

    @asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncConnection]:
        queue = self._database.writer_queue
        if queue is not None and not await queue.enter():
            raise DatabaseUnavailable("database is locked: no turn to write within the timeout")
        try:
            async with self._database.engine.begin() as connection:
                yield connection
        finally:
            if queue is not None:
                queue.leave()

    async def take_lease(self, holder: str, now: datetime, hold_for: timedelta) -> bool:
        # Ours already, or expired: one statement, so two relays racing for an expired lease
        # cannot both win (the second UPDATE sees the first one's row and matches nothing).
        taken = (
            update(leases)
            .where(leases.c.name == OUTBOX_LEASE)
            .where((leases.c.holder == holder) | (leases.c.expires_at <= now))
            .values(holder=holder, expires_at=now + hold_for)
            .returning(leases.c.name)
        )
        async with self._writing() as connection:
            if (await connection.execute(taken)).first() is not None:
                return True
            # No row yet (a fresh database): the first relay to insert it holds the lease.
            insert = postgresql.insert if self._database.dialect == "postgresql" else sqlite.insert
            first = (
                insert(leases)
                .values(name=OUTBOX_LEASE, holder=holder, expires_at=now + hold_for)
                .on_conflict_do_nothing()
                .returning(leases.c.name)
            )
            return (await connection.execute(first)).first() is not None

    async def release_lease(self, holder: str) -> None:
        released = (
            update(leases)
            .where(leases.c.name == OUTBOX_LEASE, leases.c.holder == holder)
            .values(holder=None, expires_at=_EXPIRED)
        )
        async with self._writing() as connection:
            await connection.execute(released)

    async def unsent(self, limit: int) -> Sequence[OutboxRecord]:
        o = outbox.c
        first_unsent = (
            select(o.position, o.id, o.type, o.subject, o.data, o.occurred_at)
            .where(o.published_at.is_(None))
            .order_by(o.position)
            .limit(limit)
        )
        rows = await self._database.reader.fetch_all(first_unsent, {})
        return [
            OutboxRecord(
                position=row["position"],
                id=row["id"],
                type=row["type"],
                subject=row["subject"],
                data=row["data"],
                occurred_at=_utc(row["occurred_at"]),
            )
            for row in rows
        ]

    async def mark_published(self, positions: Sequence[int], at: datetime) -> None:
        marked = update(outbox).where(outbox.c.position.in_(positions)).values(published_at=at)
        async with self._writing() as connection:
            await connection.execute(marked)

    async def backlog(self, now: datetime) -> Backlog:
        o = outbox.c
        unsent = o.published_at.is_(None)
        # The oldest is the first by position: one index lookup, not a MIN over the backlog.
        oldest = select(o.occurred_at).where(unsent).order_by(o.position).limit(1)
        count = select(func.count()).select_from(outbox).where(unsent)
        counted = await self._database.reader.fetch_all(
            select(count.scalar_subquery().label("unsent"), oldest.scalar_subquery().label("at")),
            {},
        )
        row = counted[0]
        return Backlog(unsent=row["unsent"], oldest=_utc(row["at"]) if row["at"] else None)

    async def purge_published(self, before: datetime, limit: int, *, broker: bool = True) -> int:
        o = outbox.c
        # A row also owed to in-process handlers stays until every call it is owed is done
        # (a parked one may be retried, and needs the row): core's rule, adapters/orm.py.
        calls_open = (
            select(event_handling.c.position)
            .where(event_handling.c.position == o.position)
            .where(event_handling.c.done_at.is_(None))
            .exists()
        )
        # Oldest first by position: published rows are mostly the oldest ones.
        batch = (
            select(o.position)
            .where(o.published_at < before if broker else o.occurred_at < before)
            .where(o.dispatched_at.is_not(None), ~calls_open)
            .order_by(o.position)
            .limit(limit)
        )
        purged = delete(outbox).where(o.position.in_(batch.scalar_subquery())).returning(o.position)
        async with self._writing() as connection:
            return len((await connection.execute(purged)).all())


def _utc(moment: datetime | str) -> datetime:
    """Raw reads bypass the column type: SQLite hands back naive UTC, or text."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
