"""An in-memory outbox and broker for the relay's unit tests (``service_layer.relay``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from service_layer.relay_ports import Backlog, BrokerUnavailable, OutboxRecord


@dataclass
class FakeLease:
    holder: str | None = None
    expires_at: datetime | None = None


@dataclass
class FakeOutbox:
    """The rows, their published_at, and one lease, with the adapter's lease rule."""

    records: list[OutboxRecord] = field(default_factory=list)
    published_at: dict[int, datetime] = field(default_factory=dict)
    lease: FakeLease = field(default_factory=FakeLease)

    async def take_lease(self, holder: str, now: datetime, hold_for: timedelta) -> bool:
        expired = self.lease.expires_at is None or self.lease.expires_at <= now
        if self.lease.holder == holder or expired:
            self.lease = FakeLease(holder, now + hold_for)
            return True
        return False

    async def release_lease(self, holder: str) -> None:
        if self.lease.holder == holder:
            self.lease = FakeLease()

    async def unsent(self, limit: int) -> Sequence[OutboxRecord]:
        waiting = [r for r in self.records if r.position not in self.published_at]
        return sorted(waiting, key=lambda r: r.position)[:limit]

    async def mark_published(self, positions: Sequence[int], at: datetime) -> None:
        for position in positions:
            self.published_at[position] = at

    async def backlog(self, now: datetime) -> Backlog:
        waiting = await self.unsent(len(self.records))
        return Backlog(len(waiting), waiting[0].occurred_at if waiting else None)

    async def purge_published(self, before: datetime, limit: int, *, broker: bool = True) -> int:
        if not broker:
            raise NotImplementedError("the relay's unit tests always have a broker")
        old = [p for p, at in sorted(self.published_at.items()) if at < before][:limit]
        self.records = [r for r in self.records if r.position not in old]
        for position in old:
            del self.published_at[position]
        return len(old)


@dataclass
class FakeBroker:
    """Keeps what it was sent, drops a repeated event id (JetStream's duplicate window, with
    no end), and fails each publish while ``down``, or the ``fail_at``-th one."""

    stored: list[OutboxRecord] = field(default_factory=list)
    down: bool = False
    fail_at: int | None = None
    attempts: int = 0

    async def publish(self, record: OutboxRecord) -> bool:
        self.attempts += 1
        if self.down or self.attempts == self.fail_at:
            raise BrokerUnavailable("broker down")
        if any(kept.id == record.id for kept in self.stored):
            return True
        self.stored.append(replace(record))
        return False
