"""The outbox and the handling table in memory, with the same transactional semantics as the
other fakes: a unit's rows and changes reach the store only when it commits."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from adapters.outbox import to_json
from service_layer.outbox import AbstractEventHandling, AbstractOutbox, HandlerCall, OutboxMessage


@dataclass
class HandlingRow:
    """One row of ``event_handling``."""

    position: int
    handler: str
    next_attempt_at: datetime
    attempts: int = 0
    parked_at: datetime | None = None
    last_error: str | None = None
    done_at: datetime | None = None


@dataclass
class OutboxStore:
    """The committed outbox (by position) and handling rows (by position and handler)."""

    rows: dict[int, OutboxMessage] = field(default_factory=dict)
    dispatched: dict[int, datetime] = field(default_factory=dict)
    handling: dict[tuple[int, str], HandlingRow] = field(default_factory=dict)
    positions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


class InMemoryOutbox(AbstractOutbox):
    def __init__(self, store: OutboxStore) -> None:
        self._store = store
        self.added: list[OutboxMessage] = []
        self.dispatched: dict[int, datetime] = {}

    async def add(self, messages: Sequence[OutboxMessage]) -> None:
        # Positions like a sequence: taken now, never given back by a rollback.
        for message in messages:
            # Stored as the database stores it: data as JSON, read back as plain JSON values.
            data = json.loads(to_json(message.data))
            position = next(self._store.positions)
            self.added.append(dataclasses.replace(message, data=data, position=position))
            if message.dispatched_at is not None:  # written dispatched: it owes no call
                self.dispatched[position] = message.dispatched_at

    async def undispatched(self, *, limit: int) -> Sequence[OutboxMessage]:
        rows = {**self._store.rows, **{m.position or 0: m for m in self.added}}
        dispatched = self._store.dispatched | self.dispatched
        waiting = [rows[p] for p in sorted(rows) if p not in dispatched]
        return waiting[:limit]

    async def mark_dispatched(self, positions: Iterable[int], at: datetime) -> None:
        self.dispatched.update(dict.fromkeys(positions, at))

    def commit(self) -> None:
        self._store.rows.update({m.position or 0: m for m in self.added})
        self._store.dispatched.update(self.dispatched)
        self.added.clear()
        self.dispatched.clear()


class InMemoryEventHandling(AbstractEventHandling):
    def __init__(self, store: OutboxStore) -> None:
        self._store = store
        self.rows = {key: dataclasses.replace(row) for key, row in store.handling.items()}
        self._read = {key: dataclasses.replace(row) for key, row in store.handling.items()}
        self._removed: set[tuple[int, str]] = set()

    async def any_work(self, now: datetime) -> bool:
        undispatched = self._store.rows.keys() - self._store.dispatched.keys()
        return bool(undispatched) or any(
            row.done_at is None and row.parked_at is None and row.next_attempt_at <= now
            for row in self.rows.values()
        )

    async def expect(self, calls: Iterable[tuple[int, str]], at: datetime) -> None:
        for position, handler in calls:
            if (position, handler) in self.rows:
                raise RuntimeError("duplicate primary key")
            self.rows[position, handler] = HandlingRow(position, handler, at)

    async def claim_due(
        self, now: datetime, *, lease_until: datetime, limit: int
    ) -> Sequence[HandlerCall]:
        due = [
            row
            for row in self.rows.values()
            if row.done_at is None and row.parked_at is None and row.next_attempt_at <= now
        ]
        due.sort(key=lambda row: (row.next_attempt_at, row.position))
        for row in due[:limit]:
            row.attempts += 1
            row.next_attempt_at = lease_until
        return [self._call(row) for row in due[:limit]]

    async def done(self, position: int, handler: str, at: datetime) -> None:
        row = self.rows[position, handler]
        row.done_at, row.last_error = at, None

    async def failed(
        self, position: int, handler: str, error: str, *, retry_at: datetime | None, at: datetime
    ) -> None:
        row = self.rows[position, handler]
        row.last_error = error
        if retry_at is None:
            row.parked_at = at
        else:
            row.next_attempt_at = retry_at

    async def parked(self, *, limit: int = 100) -> Sequence[HandlerCall]:
        found = sorted(
            (row for row in self.rows.values() if row.parked_at is not None),
            key=lambda row: (row.position, row.handler),
        )
        return [self._call(row) for row in found[:limit]]

    async def count_parked(self) -> int:
        return sum(1 for row in self.rows.values() if row.parked_at is not None)

    async def retry(self, positions: Sequence[int] | None, at: datetime) -> int:
        chosen = [
            row
            for row in self.rows.values()
            if row.parked_at is not None and (positions is None or row.position in positions)
        ]
        for row in chosen:
            row.parked_at, row.attempts, row.next_attempt_at = None, 0, at
        return len(chosen)

    async def remove_done_before(self, before: datetime, *, limit: int) -> int:
        done = [
            key
            for key, row in self.rows.items()
            if row.done_at is not None and row.done_at < before
        ]
        for key in done[:limit]:
            del self.rows[key]
            self._removed.add(key)
        return len(done[:limit])

    def commit(self) -> None:
        """Publish what this unit changed (another unit may have committed other rows)."""
        for key in self._removed:
            self._store.handling.pop(key, None)
            self._read.pop(key, None)
        self._removed.clear()
        for key, row in self.rows.items():
            if self._read.get(key) != row:
                self._store.handling[key] = dataclasses.replace(row)
                self._read[key] = dataclasses.replace(row)

    def _call(self, row: HandlingRow) -> HandlerCall:
        message = self._store.rows[row.position]
        return HandlerCall(message, row.handler, row.attempts, row.last_error, row.parked_at)
