"""Domain events' parked handler calls, as an operator sees and releases them
(``stockroom events list|retry``; ``service_layer/messagebus.py`` parks them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from service_layer.outbox import HandlerCall
from service_layer.retry import retry_transient
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case

MAX_LISTED = 1_000


@use_case
async def parked_calls(uow: AbstractUnitOfWork, *, limit: int = 100) -> list[HandlerCall]:
    """The parked calls, oldest event first, with the error that parked each."""
    async with uow.reading():
        return list(await uow.event_handling.parked(limit=max(1, min(limit, MAX_LISTED))))


@use_case
@retry_transient()
async def retry_parked(
    uow: AbstractUnitOfWork, positions: Sequence[int] | None, now: datetime
) -> int:
    """Make the parked calls of the events at ``positions`` (every parked call: ``None``) due
    at ``now``, with their attempts counted anew; how many. The dispatcher runs them in its
    next round."""
    async with uow:
        released = await uow.event_handling.retry(positions, now)
        await uow.commit()
        return released
