"""The Unit of Work port: one transaction, explicit commit, rollback by default.

Why each rule, and how the real unit (``adapters.unit_of_work``) keeps it:
``docs/session-lifecycle.md``.
"""

from __future__ import annotations

import abc
from collections.abc import Collection
from types import TracebackType
from typing import Any, NoReturn, Self

from domain.catalog_import import Catalog
from domain.events import Event
from domain.item import Item
from domain.order import Order
from service_layer.outbox import AbstractEventHandling, AbstractOutbox, message_of
from service_layer.repositories import (
    AbstractCatalogRows,
    AbstractIdempotencyRepository,
    AbstractImportJournal,
    AbstractItemRepository,
    AbstractLoginFailureRepository,
    AbstractOrderRepository,
    AbstractUserRepository,
)


class UnitOfWorkError(RuntimeError):
    """A unit of work was used outside its block: entered while open, committed outside it,
    or its repositories used after it ended."""


class _Ended:
    """A unit's repositories outside its block (before it, or once it has ended): any use
    raises, and touches no storage. (A repository kept from inside the block is closed for
    good by the implementation: ``adapters.unit_of_work``.)"""

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):  # what Python itself asks of any object (abc, copy, ...)
            raise AttributeError(name)
        raise UnitOfWorkError(
            f"a repository used outside 'async with uow' ({name}): the unit is not open"
        )


ENDED: Any = _Ended()


class AbstractUnitOfWork(abc.ABC):
    """An async context manager around one transaction.

    Nothing is written unless ``commit()`` is awaited inside the block; leaving the block any
    other way (normally or through an exception) rolls back. ``commit()`` may be awaited more
    than once: each makes durable what the block did since the one before. There is no
    ``rollback()``: no use case needs one, and leaving the block is the one way to discard
    work. A unit may be entered again after it has exited, never while it is open: each
    ``async with`` is one transaction, with repositories of its own.

    Failures of the storage leave as the service layer's own errors (``service_layer.errors``)
    or as the domain errors they stand for, whether ``commit()`` raised them inside the block
    or they surfaced as the block ended.

    ``commit()`` also writes the events recorded by the aggregates this unit saw (the
    repositories' ``seen``) into the outbox, in the same transaction: the events exist exactly
    when the change they report does. Nothing is published from here; handlers and the relay
    read the outbox after the commit (``service_layer/messagebus.py``).

    ``handled_event_types``: the event types some in-process handler takes, as the composition
    root's message bus knows them. A row of any other type owes no handler call, so it is
    written already dispatched: the dispatcher neither reads nor updates it (most events, an
    ``order.placed`` in every purchase, are only for the relay). ``None`` (the default): every
    row goes past the dispatcher, which notes whatever calls it owes.
    """

    handled_event_types: Collection[str] | None = None

    items: AbstractItemRepository = ENDED
    users: AbstractUserRepository = ENDED
    orders: AbstractOrderRepository = ENDED
    idempotency: AbstractIdempotencyRepository = ENDED
    login_failures: AbstractLoginFailureRepository = ENDED
    imports: AbstractImportJournal = ENDED
    catalog_rows: AbstractCatalogRows = ENDED
    outbox: AbstractOutbox = ENDED
    event_handling: AbstractEventHandling = ENDED
    _open = False
    _read_only = False

    def reading(self) -> Self:
        """For the next block only: this unit reads and never commits (``commit()`` raises).
        A use case that reads through aggregates says so, so that an implementation can
        spare it whatever only writers need (a turn at a write lock, say)."""
        if self._open:
            raise UnitOfWorkError("reading() is for a unit about to be opened")
        self._read_only = True
        return self

    async def __aenter__(self) -> Self:
        if self._open:
            raise UnitOfWorkError("this unit of work is already open; use a fresh one")
        await self._begin()
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._open = False
        try:
            await self._end(exc)
        finally:
            self._read_only = False
            # The instance's repositories go; the class's ENDED shows through again.
            del self.items, self.users, self.orders, self.idempotency
            del self.login_failures, self.imports, self.catalog_rows
            del self.outbox, self.event_handling

    async def commit(self) -> None:
        if not self._open:
            raise UnitOfWorkError("commit() outside 'async with uow'")
        if self._read_only:
            raise UnitOfWorkError("commit() in a unit opened with reading()")
        recorded = self._recorded_events()
        if recorded:
            # New aggregates get their ids at the flush; the outbox rows carry them.
            await self._flush()
            handled, rows = self.handled_event_types, []
            for aggregate, event in recorded:  # a loop, not a comprehension: no frame of its own
                rows.append(message_of(aggregate, event, handled=handled))
            await self.outbox.add(rows)
        await self._commit()

    def _recorded_events(self) -> list[tuple[Order | Item | Catalog, Event]]:
        """The events the seen aggregates recorded since the last commit, taken from them (a
        second commit in the block writes only newer ones). Orders first: an order's placing
        is told before the stock it left low; items written as rows by a bulk load last. One
        aggregate's events keep their order."""
        recorded: list[tuple[Order | Item | Catalog, Event]] = []
        seen: list[Order | Item | Catalog] = [
            *self.orders.seen,
            *self.items.seen,
            *self.catalog_rows.seen,
        ]
        for aggregate in seen:
            for event in aggregate.events:
                recorded.append((aggregate, event))
            aggregate.events.clear()
        return recorded

    @abc.abstractmethod
    async def _begin(self) -> None:
        """Open the transaction's resources and set the repositories on the instance."""

    @abc.abstractmethod
    async def _flush(self) -> None:
        """Send the unit's changes so far, inside its transaction: new rows get their ids."""

    @abc.abstractmethod
    async def _commit(self) -> None:
        """Make the work durable; raise classified errors."""

    @abc.abstractmethod
    async def _end(self, error: BaseException | None) -> None:
        """Discard whatever was not committed and release everything ``_begin`` acquired;
        with ``error`` (what is leaving the block), raise its classified counterpart, if any.

        This is where "rollback unless committed" happens for every implementation. It must
        leave objects the unit handed out readable without IO: a caller may still hold one.
        """
