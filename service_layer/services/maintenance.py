"""Housekeeping use cases: what ``stockroom maintenance`` runs, and each API worker on a timer."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.idempotency import DEFAULT_KEY_TTL, expiry_cutoff
from service_layer.retry import retry_transient
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case

PURGE_BATCH_SIZE = 1_000


@use_case
async def purge_expired_idempotency_keys(
    uow: AbstractUnitOfWork,
    now: datetime,
    *,
    ttl: timedelta = DEFAULT_KEY_TTL,
    batch_size: int = PURGE_BATCH_SIZE,
) -> int:
    """Remove the idempotency keys that expired by ``now``; how many were removed.

    In batches of ``batch_size``, one unit of work each: a purge never holds one long
    transaction over a large backlog, and an order waits for at most one batch. Running it
    anywhere, any number of times at once (every worker of every host does, on a timer) is
    harmless: a key one run removed is simply not there for the others, and an expired key
    that a purge has not reached yet already no longer replays (``place_order``).
    """
    cutoff = expiry_cutoff(now, ttl)
    removed = 0
    while True:
        batch = await _purge_batch(uow, cutoff, batch_size)
        removed += batch
        if batch < batch_size:
            return removed


@use_case
@retry_transient()
async def _purge_batch(uow: AbstractUnitOfWork, cutoff: datetime, batch_size: int) -> int:
    async with uow:
        removed = await uow.idempotency.remove_created_before(cutoff, limit=batch_size)
        await uow.commit()
        return removed


@use_case
async def purge_finished_handler_calls(
    uow: AbstractUnitOfWork, before: datetime, *, batch_size: int = PURGE_BATCH_SIZE
) -> int:
    """Remove the in-process handler calls done before ``before``, in batches of one unit of
    work each (as above); pending and parked calls stay. How many were removed."""
    removed = 0
    while True:
        batch = await _purge_handler_calls_batch(uow, before, batch_size)
        removed += batch
        if batch < batch_size:
            return removed


@use_case
@retry_transient()
async def _purge_handler_calls_batch(
    uow: AbstractUnitOfWork, before: datetime, batch_size: int
) -> int:
    async with uow:
        removed = await uow.event_handling.remove_done_before(before, limit=batch_size)
        await uow.commit()
        return removed
