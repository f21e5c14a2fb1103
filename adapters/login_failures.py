"""Failed-login counters in the database, where every worker and host sees the same counts.

Each failure is one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``: the database adds one
atomically and hands back the new count, and the row stays locked (PostgreSQL) or the database
stays locked (SQLite's ``BEGIN IMMEDIATE``) until the unit ends, so two processes counting the
same key at once get 6 and 7, never 6 and 6.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, null, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from adapters.orm import address_activity as activity
from adapters.orm import login_failures as table
from adapters.repositories import SqlAlchemyRepository
from domain.address_activity import Activity, ActivityCounter, ActivityKey
from domain.login_throttle import FailureCounter, ThrottleKey, ThrottleScope
from service_layer.repositories import AbstractLoginFailureRepository

# One purge deletes at most this many rows, so it never holds a long transaction.
PURGE_BATCH = 1000


class SqlAlchemyLoginFailureRepository(SqlAlchemyRepository, AbstractLoginFailureRepository):
    async def get(self, keys: Sequence[ThrottleKey]) -> Sequence[FailureCounter]:
        if not keys:
            return []
        wanted = tuple_(table.c.scope, table.c.key).in_([(k.scope, k.value) for k in keys])
        rows = await self._session.execute(select(table).where(wanted))
        return [
            FailureCounter(
                key=ThrottleKey(ThrottleScope(row.scope), row.key),
                failures=row.failures,
                last_failure_at=row.last_failure_at,
                blocked_until=row.blocked_until,
            )
            for row in rows
        ]

    async def add_failure(self, key: ThrottleKey, at: datetime, forget_before: datetime) -> int:
        insert: Any = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stale = table.c.last_failure_at < forget_before
        statement = (
            insert(table)
            .values(scope=key.scope, key=key.value, failures=1, last_failure_at=at)
            .on_conflict_do_update(
                index_elements=[table.c.scope, table.c.key],
                # Every expression here sees the row as it was before this statement.
                set_={
                    "failures": case((stale, 1), else_=table.c.failures + 1),
                    "last_failure_at": at,
                    "blocked_until": case((stale, null()), else_=table.c.blocked_until),
                },
            )
            .returning(table.c.failures)
        )
        return int((await self._session.execute(statement)).scalar_one())

    async def block(self, key: ThrottleKey, until: datetime) -> None:
        await self._session.execute(update(table).where(*_is(key)).values(blocked_until=until))

    async def forget(self, key: ThrottleKey) -> None:
        await self._session.execute(delete(table).where(*_is(key)))

    async def forget_stale(self, forget_before: datetime) -> int:
        # SKIP LOCKED: a counter another unit is counting right now is not stale for long,
        # and waiting for it could deadlock with that unit's other counters. (SQLite has no
        # row locks; its writers take turns, so there is nothing to skip.)
        stale = (
            select(table.c.scope, table.c.key)
            .where(table.c.last_failure_at < forget_before)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        )
        result = await self._session.execute(
            delete(table).where(tuple_(table.c.scope, table.c.key).in_(stale))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def get_activity(self, keys: Sequence[ActivityKey]) -> Sequence[ActivityCounter]:
        if not keys:
            return []
        wanted = tuple_(activity.c.kind, activity.c.key).in_([(k.kind, k.value) for k in keys])
        rows = await self._session.execute(select(activity).where(wanted))
        return [_activity_counter(row) for row in rows]

    async def count_activity(
        self, key: ActivityKey, at: datetime, restart_before: datetime
    ) -> ActivityCounter:
        insert: Any = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        restart = activity.c.started_at < restart_before
        statement = (
            insert(activity)
            .values(kind=key.kind, key=key.value, count=1, started_at=at, last_at=at)
            .on_conflict_do_update(
                index_elements=[activity.c.kind, activity.c.key],
                set_={
                    "count": case((restart, 1), else_=activity.c.count + 1),
                    "started_at": case((restart, at), else_=activity.c.started_at),
                    "last_at": at,
                },
            )
            .returning(*activity.c)
        )
        return _activity_counter((await self._session.execute(statement)).one())

    async def forget_stale_activity(self, before: datetime) -> int:
        stale = (
            select(activity.c.kind, activity.c.key)
            .where(activity.c.last_at < before)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        )
        result = await self._session.execute(
            delete(activity).where(tuple_(activity.c.kind, activity.c.key).in_(stale))
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    @property
    def _dialect(self) -> str:
        return self._session.get_bind().dialect.name


def _is(key: ThrottleKey) -> tuple[Any, Any]:
    return table.c.scope == key.scope, table.c.key == key.value


def _activity_counter(row: Any) -> ActivityCounter:
    return ActivityCounter(
        key=ActivityKey(Activity(row.kind), row.key),
        count=row.count,
        started_at=row.started_at,
        last_at=row.last_at,
    )
