"""Units of work and the read port on a test's own ``Database``, built as the container
builds them (entrypoints/container.py), for tests that drive the adapters directly."""

from __future__ import annotations

from adapters.database import Database
from adapters.reads import SqlAlchemyReads
from adapters.sqlite_unit_of_work import SqliteUnitOfWork, reading_session_factory
from adapters.unit_of_work import SqlAlchemyUnitOfWork, UnitObserver, UnitSession, session_factory


def unit_of_work(
    database: Database,
    *,
    session_class: type[UnitSession] = UnitSession,
    observer: UnitObserver | None = None,
) -> SqlAlchemyUnitOfWork:
    """A fresh unit on ``database``; ``session_class``: a subclass to hang listeners on."""
    sessions = session_factory(database.engine, session_class)
    if database.writer_queue is None:
        return SqlAlchemyUnitOfWork(sessions, observer)
    reading = reading_session_factory(database.engine, session_class)
    return SqliteUnitOfWork(sessions, reading, database.writer_queue, observer)


def reads_of(database: Database) -> SqlAlchemyReads:
    """The read port on ``database``'s read path (no replicas)."""
    return SqlAlchemyReads(database.reader)
