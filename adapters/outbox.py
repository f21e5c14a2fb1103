"""The outbox and the handling table on SQLAlchemy Core: rows, never mapped objects (an event
row is written once and never loaded to be changed)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, exists, func, insert, or_, select, tuple_, update

from adapters.orm import event_handling, outbox
from adapters.repositories import SqlAlchemyRepository
from service_layer.outbox import AbstractEventHandling, AbstractOutbox, HandlerCall, OutboxMessage

# What a handler's error may leave in the table: enough to tell one failure from another.
MAX_ERROR_LENGTH = 2000


class SqlAlchemyOutbox(SqlAlchemyRepository, AbstractOutbox):
    async def add(self, messages: Sequence[OutboxMessage]) -> None:
        # One statement for all of them (executemany), in this unit's transaction; the
        # positions come from the table's sequence in this order.
        rows = [
            {
                "id": message.id,
                "type": message.type,
                "subject": message.subject,
                "data": to_json(message.data),
                "occurred_at": message.occurred_at,
                "dispatched_at": message.dispatched_at,
            }
            for message in messages
        ]
        await self._session.execute(insert(outbox), rows)

    async def undispatched(self, *, limit: int) -> Sequence[OutboxMessage]:
        # SKIP LOCKED (PostgreSQL; SQLite's writers take turns anyway): two dispatchers take
        # different rows instead of waiting for each other.
        statement = (
            select(outbox)
            .where(outbox.c.dispatched_at.is_(None))
            .order_by(outbox.c.position)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [message_from(row) for row in await self._session.execute(statement)]

    async def mark_dispatched(self, positions: Iterable[int], at: datetime) -> None:
        statement = update(outbox).where(outbox.c.position.in_(list(positions)))
        await self._session.execute(statement.values(dispatched_at=at))


class SqlAlchemyEventHandling(SqlAlchemyRepository, AbstractEventHandling):
    async def any_work(self, now: datetime) -> bool:
        undispatched = exists().where(outbox.c.dispatched_at.is_(None))
        due = exists().where(*_due(now))
        return bool(await self._session.scalar(select(or_(undispatched, due))))

    async def expect(self, calls: Iterable[tuple[int, str]], at: datetime) -> None:
        rows = [
            {"position": position, "handler": handler, "next_attempt_at": at}
            for position, handler in calls
        ]
        if rows:
            await self._session.execute(insert(event_handling), rows)

    async def claim_due(
        self, now: datetime, *, lease_until: datetime, limit: int
    ) -> Sequence[HandlerCall]:
        due = (
            select(event_handling.c.position, event_handling.c.handler)
            .where(*_due(now))
            .order_by(event_handling.c.next_attempt_at, event_handling.c.position)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed = [(row.position, row.handler) for row in await self._session.execute(due)]
        for position, handler in claimed:
            await self._session.execute(
                update(event_handling)
                .where(*_call(position, handler))
                .values(attempts=event_handling.c.attempts + 1, next_attempt_at=lease_until)
            )
        wanted = set(claimed)
        positions = {position for position, _ in claimed}
        return [
            call
            for call in await self._calls(event_handling.c.position.in_(positions))
            if (call.message.position, call.handler) in wanted
        ]

    async def done(self, position: int, handler: str, at: datetime) -> None:
        statement = update(event_handling).where(*_call(position, handler))
        await self._session.execute(statement.values(done_at=at, last_error=None))

    async def failed(
        self, position: int, handler: str, error: str, *, retry_at: datetime | None, at: datetime
    ) -> None:
        changes: dict[str, Any] = {"last_error": error[:MAX_ERROR_LENGTH]}
        changes |= {"next_attempt_at": retry_at} if retry_at is not None else {"parked_at": at}
        statement = update(event_handling).where(*_call(position, handler))
        await self._session.execute(statement.values(**changes))

    async def parked(self, *, limit: int = 100) -> Sequence[HandlerCall]:
        return await self._calls(event_handling.c.parked_at.is_not(None), limit=limit)

    async def count_parked(self) -> int:
        statement = select(func.count()).where(event_handling.c.parked_at.is_not(None))
        return int(await self._session.scalar(statement) or 0)

    async def retry(self, positions: Sequence[int] | None, at: datetime) -> int:
        statement = update(event_handling).where(event_handling.c.parked_at.is_not(None))
        if positions is not None:
            statement = statement.where(event_handling.c.position.in_(list(positions)))
        result = await self._session.execute(
            statement.values(parked_at=None, attempts=0, next_attempt_at=at)
        )
        return int(getattr(result, "rowcount", 0))

    async def remove_done_before(self, before: datetime, *, limit: int) -> int:
        h = event_handling.c
        # A batch by key, then the DELETE: neither dialect takes DELETE ... LIMIT. Pending and
        # parked calls have done_at NULL, so the comparison alone keeps them. Oldest events
        # first, along the primary key: old calls are mostly done ones, so a batch is found
        # near the start of the index, not by reading the whole table. RETURNING, not
        # rowcount, counts (psycopg behind a transaction-mode pooler may report -1).
        batch = (
            select(h.position, h.handler)
            .where(h.done_at < before)
            .order_by(h.position, h.handler)
            .limit(limit)
        )
        removed = (
            delete(event_handling)
            .where(tuple_(h.position, h.handler).in_(batch))
            .returning(h.position)
        )
        return len((await self._session.execute(removed)).all())

    async def _calls(self, condition: Any, *, limit: int | None = None) -> list[HandlerCall]:
        statement = (
            select(outbox, event_handling.c.handler, event_handling.c.attempts)
            .add_columns(event_handling.c.last_error, event_handling.c.parked_at)
            .join(event_handling, event_handling.c.position == outbox.c.position)
            .where(condition)
            .order_by(outbox.c.position, event_handling.c.handler)
            .limit(limit)
        )
        return [
            HandlerCall(message_from(row), row.handler, row.attempts, row.last_error, row.parked_at)
            for row in await self._session.execute(statement)
        ]


def to_json(data: Mapping[str, Any]) -> str:
    """Compact JSON; amounts (``Decimal``) as their decimal strings, "8.00"."""
    return json.dumps(data, separators=(",", ":"), default=str)


def message_from(row: Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        type=row.type,
        subject=row.subject,
        data=json.loads(row.data),
        occurred_at=row.occurred_at,
        position=row.position,
        dispatched_at=row.dispatched_at,
    )


def _call(position: int, handler: str) -> tuple[Any, Any]:
    return event_handling.c.position == position, event_handling.c.handler == handler


def _due(now: datetime) -> tuple[Any, ...]:
    # The partial index ix_event_handling_due's condition, then its column.
    return (
        event_handling.c.done_at.is_(None),
        event_handling.c.parked_at.is_(None),
        event_handling.c.next_attempt_at <= now,
    )
