"""The message bus: in-process handlers of domain events, run after commit, from the outbox.

Handlers are registered per event type in the composition root (``entrypoints/container.py``)
under a name of their own, which the handling table keeps. They are never called from the
unit of work, nor from memory: the dispatcher reads committed outbox rows, so an event that a
process committed just before it died is handled all the same, by any process.

One round of the dispatcher (``dispatch_once``), each step a short unit of work of its own:

1. note the calls owed by outbox rows not yet dispatched (one per handler of the row's type);
2. claim the calls due: each counts as attempted and is leased (not due again for a while);
3. run the claimed calls outside any transaction (a handler may be slow or do IO);
4. record each outcome: done; or failed, due again after a backoff; or, once the attempts
   are used up, parked (``stockroom events list|retry``).

A failing handler delays nothing but its own call, and a call is never lost: a process that
dies in step 3 leaves the call leased, and it is claimed again when the lease ends. So a
handler runs at least once per event (more only after such a crash): it must tolerate a repeat.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service_layer.metrics import (
    HANDLER_FAILURES,
    PARKED_HANDLER_CALLS,
    PARKED_HANDLER_CALLS_NOW,
)
from service_layer.outbox import HandlerCall, OutboxMessage
from service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[OutboxMessage], Awaitable[None]]
NewUnit = Callable[[], AbstractUnitOfWork]


class MessageBus:
    """Event type -> {handler name: handler}. A name is what the handling table records, so it
    must stay the same across releases (a renamed handler would be owed every call again)."""

    def __init__(self, handlers: Mapping[str, Mapping[str, Handler]]) -> None:
        self._by_type = {kind: dict(named) for kind, named in handlers.items()}
        self._by_name = {name: h for named in handlers.values() for name, h in named.items()}
        # The types some handler takes; the unit of work writes rows of any other type already
        # dispatched (``AbstractUnitOfWork.handled_event_types``). Computed once: the
        # container hands it to every unit it makes.
        self.event_types = frozenset(kind for kind, named in self._by_type.items() if named)

    def names_for(self, event_type: str) -> Sequence[str]:
        return list(self._by_type.get(event_type, {}))

    def handler(self, name: str) -> Handler | None:
        return self._by_name.get(name)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_attempts`` calls in all, then parked; between them ``first_delay``, doubling, at
    most ``max_delay``. ``lease``: how long a claimed call is left to its process."""

    max_attempts: int = 5
    first_delay: timedelta = timedelta(seconds=1)
    max_delay: timedelta = timedelta(minutes=5)
    lease: timedelta = timedelta(minutes=1)

    def retry_at(self, attempts: int, now: datetime) -> datetime | None:
        """When the call is due again after its ``attempts``-th failure; ``None``: park it."""
        if attempts >= self.max_attempts:
            return None
        delay: timedelta = min(self.first_delay * 2 ** (attempts - 1), self.max_delay)
        return now + delay


async def dispatch_once(
    new_uow: NewUnit,
    bus: MessageBus,
    *,
    now: datetime | None = None,
    policy: RetryPolicy = RetryPolicy(),
    batch: int = 100,
) -> int:
    """One round (the module's docstring); how many calls it ran."""
    now = now or datetime.now(UTC)
    async with new_uow().reading() as uow:
        # The one question an idle round asks: no writing unit (which may have to wait its
        # turn behind the requests' writers) unless there is something to do.
        if not await uow.event_handling.any_work(now):
            return 0
    await _note_calls(new_uow(), bus, now, batch)
    async with new_uow() as uow:
        calls = await uow.event_handling.claim_due(now, lease_until=now + policy.lease, limit=batch)
        await uow.commit()
    if not calls:
        return 0
    outcomes = await asyncio.gather(*(_call(bus, call) for call in calls))
    async with new_uow() as uow:
        for call, error in zip(calls, outcomes, strict=True):
            await _record(uow, call, error, policy, now)
        # Counted only by rounds that ran calls (an idle round asks nothing more): a parking
        # or a retry (whose call then runs) is always such a round's doing.
        parked = await uow.event_handling.count_parked()
        await uow.commit()
    PARKED_HANDLER_CALLS_NOW.set(parked)
    return len(calls)


async def _note_calls(uow: AbstractUnitOfWork, bus: MessageBus, now: datetime, limit: int) -> None:
    async with uow:
        fresh = await uow.outbox.undispatched(limit=limit)
        if not fresh:
            return
        owed = [
            (message.position, name)
            for message in fresh
            if message.position is not None
            for name in bus.names_for(message.type)
        ]
        await uow.event_handling.expect(owed, now)
        await uow.outbox.mark_dispatched([m.position for m in fresh if m.position], now)
        await uow.commit()


async def _call(bus: MessageBus, call: HandlerCall) -> str | None:
    """Run one handler; what went wrong, or ``None``."""
    handler = bus.handler(call.handler)
    if handler is None:  # registered once, not any more (a release dropped it)
        return f"no handler named {call.handler!r} is registered"
    try:
        await handler(call.message)
    except Exception as error:
        log.exception(
            "handler %s failed on event %s (%s), attempt %d",
            call.handler,
            call.message.id,
            call.message.type,
            call.attempts,
        )
        return f"{type(error).__name__}: {error}"
    return None


async def _record(
    uow: AbstractUnitOfWork,
    call: HandlerCall,
    error: str | None,
    policy: RetryPolicy,
    now: datetime,
) -> None:
    position = call.message.position
    assert position is not None, "claimed calls are of stored rows"
    if error is None:
        await uow.event_handling.done(position, call.handler, now)
        return
    HANDLER_FAILURES.labels(call.handler).inc()
    retry_at = policy.retry_at(call.attempts, now)
    if retry_at is None:
        PARKED_HANDLER_CALLS.labels(call.handler).inc()
        log.error("handler %s parked on event %s: %s", call.handler, call.message.id, error)
    await uow.event_handling.failed(position, call.handler, error, retry_at=retry_at, at=now)


async def dispatch_periodically(new_uow: NewUnit, bus: MessageBus, every: float) -> None:
    """Rounds every ``every`` seconds, until cancelled (``stockroom serve`` runs this in each
    worker; rows and calls are locked as they are taken, so workers share the work). A round
    that fails (the database is away) is logged once per outage, and the next comes at its
    time: the events wait in the outbox meanwhile. Cancelled (the app stops), it lets the round
    in flight finish first: calls that ran are recorded done, not run again after their lease."""
    failing = False
    try:  # what was parked before this process started, for the gauge
        async with new_uow().reading() as uow:
            PARKED_HANDLER_CALLS_NOW.set(await uow.event_handling.count_parked())
    except Exception:
        log.warning("counting parked handler calls failed", exc_info=True)
    while True:
        try:
            ran = await _whole_round(dispatch_once(new_uow, bus))
        except Exception:
            if not failing:
                log.exception("dispatching events failed; retrying every %s s", every)
            failing = True
            ran = 0
        else:
            failing = False
        if ran == 0:  # a full round may have left more: go again at once
            await asyncio.sleep(every)


async def _whole_round(round_: Awaitable[int]) -> int:
    running = asyncio.ensure_future(round_)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        if not running.cancelled() and running.exception() is not None:
            log.error("the last round of dispatching failed", exc_info=running.exception())
        raise
