"""The Unit of Work port: one transaction, explicit commit, rollback by default."""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from adapters.repository import (
    AbstractIdempotencyRepository,
    AbstractItemRepository,
    AbstractOrderRepository,
    AbstractUserRepository,
)
from service_layer.errors import TransientConflict  # noqa: F401 - re-exported for callers
from service_layer.read_views import AbstractReadViews


class UnitOfWorkError(RuntimeError):
    """A unit of work was used outside its contract (nested entry, commit outside a block)."""


class AbstractUnitOfWork(abc.ABC):
    """An async context manager around one transaction.

    Nothing is written unless ``commit()`` is awaited inside the block; leaving the block any
    other way (normally or through an exception) rolls back. A unit may be entered again after
    it has exited, but never while it is open: each ``async with`` is one transaction.

    ``views`` is the lean read path (see ``read_views``): usable without entering the unit,
    each call one statement on committed data, outside any transaction.
    """

    views: AbstractReadViews
    items: AbstractItemRepository
    users: AbstractUserRepository
    orders: AbstractOrderRepository
    idempotency: AbstractIdempotencyRepository

    def __init__(self) -> None:
        self._active = False

    async def __aenter__(self) -> Self:
        if self._active:
            raise UnitOfWorkError("this unit of work is already open; use a fresh one")
        await self._begin()
        self._active = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        translated = self._translate(exc) if exc is not None else None
        self._active = False
        await self._end()
        if translated is not None:
            raise translated from exc

    async def commit(self) -> None:
        if not self._active:
            raise UnitOfWorkError("commit() outside 'async with uow'")
        await self._commit()

    async def rollback(self) -> None:
        await self._rollback()

    def _translate(self, error: BaseException) -> Exception | None:
        """An exception to raise instead of ``error`` as it leaves the block, or ``None``."""
        return None

    @abc.abstractmethod
    async def _begin(self) -> None:
        """Open the transaction's resources and build the repositories."""

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def _rollback(self) -> None: ...

    @abc.abstractmethod
    async def _end(self) -> None:
        """Discard whatever was not committed and release everything ``_begin`` acquired.

        This is where "rollback unless committed" happens for every implementation. It must
        leave objects the unit handed out readable without IO: a caller may still hold one.
        """
