"""The Unit of Work port: one transaction, explicit commit, rollback by default.

Why each rule, and how the real unit (``adapters.unit_of_work``) keeps it:
``docs/session-lifecycle.md``.
"""

from __future__ import annotations

import abc
import sys
from types import TracebackType
from typing import Self

from service_layer.repositories import (
    AbstractIdempotencyRepository,
    AbstractImportJournal,
    AbstractItemRepository,
    AbstractLoginFailureRepository,
    AbstractOrderRepository,
    AbstractUserRepository,
)
from service_layer.unit_watch import OpenUnit, UnitSpan
from service_layer.use_cases import tracing


class UnitOfWorkError(RuntimeError):
    """A unit of work was used outside its contract (nested entry, commit outside a block)."""


class AbstractUnitOfWork(abc.ABC):
    """An async context manager around one transaction.

    Nothing is written unless ``commit()`` is awaited inside the block; leaving the block any
    other way (normally or through an exception) rolls back. There is no ``rollback()``: no
    use case needs one, and leaving the block is the one way to discard work. A unit may be
    entered again after it has exited, but never while it is open: each ``async with`` is one
    transaction.

    Failures of the storage leave as the service layer's own errors (``service_layer.errors``)
    or as the domain errors they stand for, the same whether ``commit()`` raised them inside
    the block or they surfaced as the block ended: an implementation classifies each error
    once, in ``_classify``.
    """

    items: AbstractItemRepository
    users: AbstractUserRepository
    orders: AbstractOrderRepository
    idempotency: AbstractIdempotencyRepository
    login_failures: AbstractLoginFailureRepository
    imports: AbstractImportJournal
    # After a commit: where the committed work is, for reads that must see it
    # (``AbstractReads.after``); ``None`` when reads always see it anyway.
    position: str | None = None

    def __init__(self, warn_after: float | None = None) -> None:
        self._active = False
        self._warn_after = warn_after  # seconds open before the held-session warning
        self._watch: OpenUnit | None = None
        self._span: UnitSpan | None = None
        self._committed = False

    async def __aenter__(self) -> Self:
        if self._active:
            raise UnitOfWorkError("this unit of work is already open; use a fresh one")
        # The span starts first: waiting for a session (or a turn to write) is the unit's time.
        span = UnitSpan() if tracing() else None
        try:
            await self._begin()
        except BaseException as error:
            if span is not None:
                span.ended("failed", error)
            raise
        self._span = span
        self._active, self._committed = True, False
        # Frame 1 is the code running `async with`: where the unit was opened.
        self._watch = OpenUnit(self._warn_after, sys._getframe(1))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        classified = self._classify(exc) if exc is not None else None
        self._active = False
        outcome = "failed" if exc is not None else "committed" if self._committed else "rolled_back"
        try:
            await self._end()
        finally:
            if self._watch is not None:
                self._watch.closed(outcome)
                self._watch = None
            if self._span is not None:
                self._span.ended(outcome, classified or exc)
                self._span = None
        if classified is not None:
            raise classified from exc

    async def commit(self) -> None:
        if not self._active:
            raise UnitOfWorkError("commit() outside 'async with uow'")
        await self._commit()
        self._committed = True
        if self._span is not None:
            self._span.committed()
        self.position = await self._position_after_commit()

    async def _position_after_commit(self) -> str | None:
        return None

    def _classify(self, error: BaseException) -> Exception | None:
        """The exception to raise instead of ``error``, or ``None`` to let ``error`` through
        (it means nothing to the storage, or it was classified already)."""
        return None

    @abc.abstractmethod
    async def _begin(self) -> None:
        """Open the transaction's resources and build the repositories."""

    @abc.abstractmethod
    async def _commit(self) -> None:
        """Make the work durable; raise classified errors (see ``_classify``)."""

    @abc.abstractmethod
    async def _end(self) -> None:
        """Discard whatever was not committed and release everything ``_begin`` acquired.

        This is where "rollback unless committed" happens for every implementation. It must
        leave objects the unit handed out readable without IO: a caller may still hold one.
        """
