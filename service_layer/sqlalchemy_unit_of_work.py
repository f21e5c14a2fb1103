"""The SQLAlchemy unit of work: one ``AsyncSession`` per ``async with`` block."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters import integrity, sqlite_writers
from adapters.database import committed_to_database
from adapters.sqlalchemy_repository import (
    SqlAlchemyIdempotencyRepository,
    SqlAlchemyItemRepository,
    SqlAlchemyOrderRepository,
    SqlAlchemyUserRepository,
)
from service_layer import failures
from service_layer.errors import DatabaseUnavailable
from service_layer.read_views import AbstractReadViews
from service_layer.sqlalchemy_read_views import SqlAlchemyReadViews
from service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """Opens a session on enter; rolls back unless committed and closes it on exit.

    The session is created per block, never shared, so a request, a CLI command or a
    background task each get their own, and the connection is back in the pool when the
    block ends, whatever happened inside it.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        views: AbstractReadViews | None = None,
    ) -> None:
        super().__init__()
        self._session_factory = session_factory
        self._session: AsyncSession | None = None
        engine = session_factory.kw["bind"]
        # SQLite only: units of this process queue here for the database's one write lock.
        self._writer_gate = sqlite_writers.gate_for(engine)
        self._in_gate = False
        # The container shares one views object; built here when a caller did not pass one.
        self.views = views or SqlAlchemyReadViews(engine)

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open")
        return self._session

    async def _begin(self) -> None:
        if self._writer_gate is not None:
            if not await self._writer_gate.enter():
                raise DatabaseUnavailable(
                    "database is locked: other writers held it for longer than the busy timeout"
                )
            self._in_gate = True
        try:
            self._session = self._session_factory()
            self.items = SqlAlchemyItemRepository(self._session)
            self.users = SqlAlchemyUserRepository(self._session)
            self.orders = SqlAlchemyOrderRepository(self._session)
            self.idempotency = SqlAlchemyIdempotencyRepository(self._session)
        except BaseException:
            await self._end()  # the block never starts, so __aexit__ will not end it
            raise

    async def _commit(self) -> None:
        try:
            await self.session.commit()
        except IntegrityError as error:
            translated = integrity.translate(error)
            if translated is error:
                raise
            raise translated from error
        except BaseException:
            if committed_to_database(self.session.sync_session):
                # The COMMIT went through and something after it (an after_commit hook)
                # failed: the write stands, so the caller must not be told it failed.
                log.exception("a failure after COMMIT; the committed write stands")
                return
            # The COMMIT itself failed or was interrupted. SQLAlchemy then considers the
            # transaction finished without rolling it back, so close() would hand the
            # connection back to the pool still inside it, for the next unit to commit
            # someone else's rejected writes. The connection is discarded instead.
            await asyncio.shield(self.session.invalidate())
            raise

    def _translate(self, error: BaseException) -> Exception | None:
        return failures.classify(error)

    async def _rollback(self) -> None:
        await self.session.rollback()

    async def _end(self) -> None:
        # close() rolls back a transaction in progress and returns the connection to the pool.
        # Unlike rollback(), it does not expire loaded objects: they are detached with the
        # values they had, so reading one after the unit never attempts lazy IO.
        session, self._session = self._session, None
        try:
            if session is not None:
                await self._close(session)
        finally:
            if self._in_gate and self._writer_gate is not None:
                self._in_gate = False
                self._writer_gate.leave()  # only once the transaction is over

    async def _close(self, session: AsyncSession) -> None:
        try:
            # Shielded: if the caller is cancelled (client went away, timeout), closing still
            # completes and the connection goes back to the pool instead of leaking.
            await asyncio.shield(session.close())
        except Exception:
            # A dead connection can fail its ROLLBACK; SQLAlchemy has invalidated it and the
            # pool replaces it. Whatever the block did or raised stands: nothing to add here.
            log.warning("closing the session failed; its connection was discarded", exc_info=True)
