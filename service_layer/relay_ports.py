"""The ports the outbox relay (``service_layer.relay``) runs on: where the unsent events wait
(the outbox, with the lease that lets one relay at a time publish) and where they go (a
broker). Adapters satisfy them structurally: ``adapters.outbox_store`` and
``adapters.nats_publisher``; the unit tests hand in fakes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row as the relay reads it (the table is described in adapters/orm.py):
    ``data`` is the event's JSON object as text, kept as text so that what is published is
    byte for byte what was committed."""

    position: int
    id: str
    type: str
    subject: str
    data: str
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Backlog:
    """What waits in the outbox: how many rows, and since when the oldest (``None``: none)."""

    unsent: int
    oldest: datetime | None


class RelayOutbox(Protocol):
    """The outbox as the relay sees it. Every method is one short transaction of its own."""

    async def take_lease(self, holder: str, now: datetime, hold_for: timedelta) -> bool:
        """Take or renew the relay lease for ``holder`` until ``now + hold_for``: ``True`` if
        ``holder`` now has it (it had it, or the last holder's expired), ``False`` if another
        relay holds it."""
        ...

    async def release_lease(self, holder: str) -> None:
        """Give the lease up at once (a clean stop), if ``holder`` still has it."""
        ...

    async def unsent(self, limit: int) -> Sequence[OutboxRecord]:
        """The first ``limit`` rows not published yet, in position order."""
        ...

    async def mark_published(self, positions: Sequence[int], at: datetime) -> None: ...

    async def backlog(self, now: datetime) -> Backlog: ...

    async def purge_published(self, before: datetime, limit: int, *, broker: bool = True) -> int:
        """Remove up to ``limit`` rows published before ``before`` (``broker=False``: none is
        ever published, so those that occurred before it) that no in-process handler still
        needs; how many were removed."""
        ...


class BrokerUnavailable(Exception):
    """The broker could not be reached or did not acknowledge in time: the row stays unsent,
    and the relay tries again later."""


class EventPublisher(Protocol):
    async def publish(self, record: OutboxRecord) -> bool:
        """Publish one event and wait for the broker's acknowledgement (it is stored, and
        will be delivered). ``True`` if the broker had it already (a re-publish it dropped as
        a duplicate). ``BrokerUnavailable`` when it cannot be done now."""
        ...
