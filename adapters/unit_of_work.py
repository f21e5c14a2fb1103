"""The SQLAlchemy unit of work: one ``AsyncSession`` per ``async with`` block, which it owns.

It lives in adapters, beside the repositories it builds, because it is the one class that
holds a session: the service layer sees only the port (``service_layer.unit_of_work``) and
imports no SQLAlchemy at all. The sequence of one request is drawn in
``docs/session-lifecycle.md``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from typing import Any, NoReturn, Protocol

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from adapters.catalog_rows import SqlAlchemyCatalogRows, SqlAlchemyImportJournal
from adapters.database_errors import classify
from adapters.login_failures import SqlAlchemyLoginFailureRepository
from adapters.outbox import SqlAlchemyEventHandling, SqlAlchemyOutbox
from adapters.repositories import (
    SqlAlchemyIdempotencyRepository,
    SqlAlchemyItemRepository,
    SqlAlchemyOrderRepository,
    SqlAlchemyUserRepository,
)
from service_layer.unit_of_work import AbstractUnitOfWork, UnitOfWorkError

log = logging.getLogger(__name__)


class UnitSession(Session):
    """The sessions of units of work: each knows whether the database acknowledged its last
    COMMIT, which is how a unit tells "the COMMIT failed" (nothing written) from "something
    after the COMMIT failed" (the write stands). The listener below is on this class only."""

    commit_acknowledged = False


@event.listens_for(UnitSession, "after_commit")
def _commit_acknowledged(session: UnitSession) -> None:
    # Fires once the database has acknowledged COMMIT, before any later after_commit hook.
    session.commit_acknowledged = True


def session_factory(
    engine: AsyncEngine, session_class: type[UnitSession] = UnitSession
) -> async_sessionmaker[AsyncSession]:
    """``session_class``: a subclass, for tests that hang listeners on their own sessions."""
    return async_sessionmaker(
        engine,
        # Objects stay readable after commit without a refresh round trip, and nothing
        # tries lazy IO once the unit of work has closed the session.
        expire_on_commit=False,
        # SQL is sent when the unit of work asks for it, not as a side effect of a query.
        autoflush=False,
        # Closed for good when its unit ends: a repository kept past the block raises
        # instead of quietly starting a new transaction on a connection nobody returns.
        close_resets_only=False,
        sync_session_class=session_class,
    )


class UnitObserver(Protocol):
    """What watches units of work from outside (``adapters.unit_observers``); the container
    attaches one when metrics or traces are on, and none costs nothing."""

    def opened(self) -> Any:
        """A unit has begun; what it returns comes back to ``closed``."""

    def closed(self, opened: Any, outcome: str, error: BaseException | None) -> None:
        """``outcome``: committed, rolled_back (left without a commit) or failed."""


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """Opens a session on enter; rolls back unless committed and closes it on exit.

    The session is created per block, never shared, so a request, a CLI command or a
    background task each get their own, and the connection is back in the pool when the
    block ends, whatever happened inside it.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        observer: UnitObserver | None = None,
        handled_event_types: Collection[str] | None = None,
    ) -> None:
        self._sessions = sessions
        self._observer = observer
        self.handled_event_types = handled_event_types

    @property
    def session(self) -> AsyncSession:
        """The open unit's session (for tests that look inside a unit)."""
        if not self._open:
            raise UnitOfWorkError("the unit of work is not open")
        return self._session

    async def _begin(self, sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self._committed = False
        self._session = session = (sessions or self._sessions)()
        self.items = SqlAlchemyItemRepository(session)
        self.users = SqlAlchemyUserRepository(session)
        self.orders = SqlAlchemyOrderRepository(session)
        self.idempotency = SqlAlchemyIdempotencyRepository(session)
        self.login_failures = SqlAlchemyLoginFailureRepository(session)
        self.imports = SqlAlchemyImportJournal(session)
        self.catalog_rows = SqlAlchemyCatalogRows(session)
        self.outbox = SqlAlchemyOutbox(session)
        self.event_handling = SqlAlchemyEventHandling(session)
        # Last: nothing after it can fail, so every unit observed opening is observed closing.
        self._watch = self._observer.opened() if self._observer is not None else None

    async def _flush(self) -> None:
        try:
            # If a statement fails, SQLAlchemy rolls the transaction back and the connection
            # is clean, so it goes back to the pool as usual.
            await self._session.flush()
        except Exception as error:
            _raise_classified(error)

    async def _commit(self) -> None:
        session = self._session
        await self._flush()  # the statements first (see _flush)
        unit_session = session.sync_session
        assert isinstance(unit_session, UnitSession)
        unit_session.commit_acknowledged = False
        try:
            await session.commit()
        except BaseException as error:
            if unit_session.commit_acknowledged:
                # The COMMIT went through and something after it failed: the write stands.
                if not isinstance(error, Exception):
                    raise  # a cancellation (or an exit) is never swallowed
                log.exception("a failure after COMMIT; the committed write stands")
                self._committed = True
                return
            # The COMMIT itself failed or was interrupted. SQLAlchemy then considers the
            # transaction finished without rolling it back, so close() would hand the
            # connection back to the pool still inside it, for the next unit to commit
            # someone else's rejected writes. The connection is discarded instead.
            await asyncio.shield(session.invalidate())
            _raise_classified(error)
        self._committed = True

    async def _end(self, error: BaseException | None) -> None:
        try:
            # close(), not rollback(): it ends the transaction the same way, but leaves loaded
            # objects detached with the values they had instead of expired, so reading one
            # after the unit never attempts lazy IO. A task of its own, shielded: if the
            # caller is cancelled (client gone, timeout), closing still completes and the
            # connection goes back to the pool instead of leaking.
            await asyncio.shield(self._closing())
        except Exception:
            # A dead connection can fail its ROLLBACK; SQLAlchemy has invalidated it and the
            # pool replaces it. Whatever the block did or raised stands: nothing to add here.
            log.warning("closing the session failed; its connection was discarded", exc_info=True)
        finally:
            # Classified once, whether commit() raised it inside the block or it surfaced as
            # the block ended (a classified error is left as it is).
            classified = classify(error) if error is not None else None
            if self._observer is not None:
                outcome = "failed" if error else "committed" if self._committed else "rolled_back"
                self._observer.closed(self._watch, outcome, classified or error)
        if classified is not None:
            raise classified from error

    def _closing(self) -> asyncio.Task[None]:
        """The session's close, running on its own."""
        return asyncio.ensure_future(self._session.close())


def _raise_classified(error: BaseException) -> NoReturn:
    classified = classify(error)
    if classified is None:
        raise error
    raise classified from error
