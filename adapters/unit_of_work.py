"""The SQLAlchemy unit of work: one ``AsyncSession`` per ``async with`` block.

It lives in adapters, beside the repositories it builds, because it is the one class that
holds a session: the service layer sees only the port (``service_layer.unit_of_work``) and
imports no SQLAlchemy at all. Sessions and the meaning of driver errors come from the
``Database``; the sequence of one request is drawn in ``docs/session-lifecycle.md``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from adapters.database import Database
from adapters.login_failures import SqlAlchemyLoginFailureRepository
from adapters.repositories import (
    SqlAlchemyIdempotencyRepository,
    SqlAlchemyImportJournal,
    SqlAlchemyItemRepository,
    SqlAlchemyOrderRepository,
    SqlAlchemyUserRepository,
)
from adapters.unit_session import UnitSession
from service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """Opens a session on enter; rolls back unless committed and closes it on exit.

    The session is created per block, never shared, so a request, a CLI command or a
    background task each get their own, and the connection is back in the pool when the
    block ends, whatever happened inside it.
    """

    def __init__(self, database: Database, warn_after: float | None = None) -> None:
        super().__init__(warn_after)
        self._database = database
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("the unit of work is not open")
        return self._session

    async def _begin(self) -> None:
        self._session = session = await self._database.open_session()
        self.items = SqlAlchemyItemRepository(session)
        self.users = SqlAlchemyUserRepository(session)
        self.orders = SqlAlchemyOrderRepository(session)
        self.idempotency = SqlAlchemyIdempotencyRepository(session)
        self.login_failures = SqlAlchemyLoginFailureRepository(session)
        self.imports = SqlAlchemyImportJournal(session)

    async def _commit(self) -> None:
        session = self.session
        try:
            # The statements first: if one fails, SQLAlchemy rolls the transaction back and
            # the connection is clean, so it goes back to the pool as usual.
            await session.flush()
        except Exception as error:
            self._raise_classified(error)
        try:
            await session.commit()
        except BaseException as error:
            sync_session = session.sync_session
            assert isinstance(sync_session, UnitSession)
            if sync_session.commit_acknowledged:
                # The COMMIT went through and something after it failed: the write stands.
                if not isinstance(error, Exception):
                    raise  # a cancellation (or an exit) is never swallowed
                log.exception("a failure after COMMIT; the committed write stands")
                return
            # The COMMIT itself failed or was interrupted. SQLAlchemy then considers the
            # transaction finished without rolling it back, so close() would hand the
            # connection back to the pool still inside it, for the next unit to commit
            # someone else's rejected writes. The connection is discarded instead.
            await asyncio.shield(session.invalidate())
            self._raise_classified(error)

    def _raise_classified(self, error: BaseException) -> NoReturn:
        classified = self._classify(error)
        if classified is None:
            raise error
        raise classified from error

    async def _position_after_commit(self) -> str | None:
        try:
            return await self._database.position_after_commit()
        except Exception:
            # The write stands; only read-your-writes through replicas is lost for it.
            log.warning("the commit's position could not be read", exc_info=True)
            return None

    def _classify(self, error: BaseException) -> Exception | None:
        return self._database.classify(error)

    async def _end(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await self._database.close_session(session)
