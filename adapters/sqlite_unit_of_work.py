"""The unit of work on SQLite: a unit that writes waits for its turn before it begins.

A unit on SQLite begins with ``BEGIN IMMEDIATE`` (``adapters.sqlite``), which takes the
database's one write lock, so units that write run one at a time anyway. Waiting for that
lock in SQLite's busy handler is unfair and slow; they take turns in the writer queue instead
(``adapters.sqlite_writer_queue``). A unit opened with ``reading()`` takes no turn: it begins
with a plain (deferred) ``BEGIN``, a snapshot that other writers never wait for, nor it for
them (WAL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.sqlite import DEFERRED_BEGIN
from adapters.sqlite_writer_queue import WriterQueue
from adapters.unit_of_work import (
    SqlAlchemyUnitOfWork,
    UnitObserver,
    UnitSession,
    session_factory,
)
from service_layer.errors import DatabaseUnavailable


def reading_session_factory(
    engine: AsyncEngine, session_class: type[UnitSession] = UnitSession
) -> async_sessionmaker[AsyncSession]:
    """Sessions for units that only read: their transactions begin with a deferred BEGIN."""
    return session_factory(engine.execution_options(**DEFERRED_BEGIN), session_class)


class SqliteUnitOfWork(SqlAlchemyUnitOfWork):
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        reading_sessions: async_sessionmaker[AsyncSession],
        turns: WriterQueue,
        observer: UnitObserver | None = None,
        handled_event_types: Collection[str] | None = None,
    ) -> None:
        super().__init__(sessions, observer, handled_event_types)
        self._reading_sessions = reading_sessions
        self._turns = turns
        self._has_turn = False

    async def _begin(self, sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        if self._read_only:
            await super()._begin(self._reading_sessions)
            return
        if not await self._turns.enter():
            raise DatabaseUnavailable(
                "database is locked: other writers held it for longer than the busy timeout"
            )
        self._has_turn = True
        try:
            await super()._begin()
        except BaseException:
            self._has_turn = False
            self._turns.leave()
            raise

    def _closing(self) -> asyncio.Task[None]:
        closing = super()._closing()
        if self._has_turn:
            self._has_turn = False
            # The turn passes on once the ROLLBACK (or the close after a COMMIT) has run, not
            # when the caller stops waiting for it: a caller cancelled meanwhile must not let
            # the next writer in while this transaction still holds the lock.
            closing.add_done_callback(self._turns.leave)
        return closing
