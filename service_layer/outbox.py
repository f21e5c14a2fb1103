"""The outbox: the events a unit of work committed, as rows other processes and services read,
and its ports (the outbox table, and the in-process handlers' bookkeeping beside it).

A row is built from an aggregate and one of its events when the unit commits, after a flush,
so that a new aggregate's id (given by the database at the flush) is in the row's ``subject``
and ``data``: the domain's events carry no id (``domain/events.py`` says why). The stored
``data`` is plain JSON (amounts as decimal strings, as the API shows them), so a consumer in
any language reads it as it is.
"""

from __future__ import annotations

import abc
import dataclasses
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.catalog_import import Catalog
from domain.events import Event
from domain.item import Item
from domain.order import Order

# The subject's collection per aggregate: the same words as the API's paths (/orders/42).
SUBJECTS: Mapping[type, str] = {Order: "orders", Item: "items", Catalog: "items"}


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One outbox row. ``position`` is the outbox's order, given by the database on insert
    (``None`` until then); ``id`` the event's own id, unique, what consumers dedupe by.
    ``dispatched_at``: when the in-process dispatcher noted the handler calls the row owes;
    set from the start on a row that owes none (``message_of``)."""

    id: str
    type: str
    subject: str
    data: Mapping[str, Any]
    occurred_at: datetime
    position: int | None = None
    dispatched_at: datetime | None = None


def message_of(
    aggregate: Order | Item | Catalog, event: Event, *, handled: Collection[str] | None = None
) -> OutboxMessage:
    """The row for ``event`` of ``aggregate``, whose id must exist (the unit has flushed).

    ``data``: the aggregate's id and the event's fields (its lines as objects); amounts stay
    ``Decimal`` here and are stored as decimal strings ("8.00"), as the API shows them
    (``adapters/outbox.py``, ``tests/fakes/outbox.py``), which is how every reader gets them.
    The ``Catalog`` (the items as a whole, changed by a bulk load) has no id: its subject is
    the collection, "items", and its data the event's fields alone.

    ``handled``: the event types some in-process handler takes (``None``: unknown, any may
    be). A row of another type owes no handler call: it is written dispatched, so the
    dispatcher never reads nor marks it; the relay still publishes it.
    """
    subject = SUBJECTS[type(aggregate)]
    data = dataclasses.asdict(event)
    del data["occurred_at"]  # the row has a column of its own for it
    if not isinstance(aggregate, Catalog):
        assert aggregate.id is not None, "the unit of work flushes before it writes the outbox"
        subject, data = f"{subject}/{aggregate.id}", {"id": aggregate.id, **data}
    return OutboxMessage(
        id=str(uuid.uuid4()),
        type=event.type,
        subject=subject,
        data=data,
        occurred_at=event.occurred_at,
        dispatched_at=None if handled is None or event.type in handled else event.occurred_at,
    )


@dataclass(frozen=True, slots=True)
class HandlerCall:
    """One handler's call for one outbox row, as the handling table records it.

    ``attempts`` counts the calls begun, the one just claimed included; ``parked_at`` is set
    once the retries are used up (the call waits for ``stockroom events retry``)."""

    message: OutboxMessage
    handler: str
    attempts: int
    last_error: str | None = None
    parked_at: datetime | None = None


class AbstractOutbox(abc.ABC):
    """The outbox table: events written in the transaction of the change they report, read
    after commit by the in-process dispatcher (``service_layer/messagebus.py``) and the relay.
    """

    @abc.abstractmethod
    async def add(self, messages: Sequence[OutboxMessage]) -> None:
        """Insert the rows in this unit's transaction, positions increasing in this order."""

    @abc.abstractmethod
    async def undispatched(self, *, limit: int) -> Sequence[OutboxMessage]:
        """The oldest rows whose handler calls are not yet noted, by position; locked, and
        skipped while another unit holds them, so two dispatchers take different rows."""

    @abc.abstractmethod
    async def mark_dispatched(self, positions: Iterable[int], at: datetime) -> None:
        """Their handler calls are noted (``AbstractEventHandling.expect``)."""


class AbstractEventHandling(abc.ABC):
    """Which in-process handler owes which outbox row a call, and how each call went."""

    @abc.abstractmethod
    async def any_work(self, now: datetime) -> bool:
        """Whether an outbox row waits to be dispatched or a call is due at ``now``: the one
        question an idle dispatcher asks, answered from two partial indexes."""

    @abc.abstractmethod
    async def expect(self, calls: Iterable[tuple[int, str]], at: datetime) -> None:
        """Note calls (position, handler name) due from ``at``."""

    @abc.abstractmethod
    async def claim_due(
        self, now: datetime, *, lease_until: datetime, limit: int
    ) -> Sequence[HandlerCall]:
        """The oldest calls due at ``now`` (neither done nor parked), counted as attempted and
        not due again before ``lease_until``: a process that dies during the call leaves it to
        be claimed again then, by any process."""

    @abc.abstractmethod
    async def done(self, position: int, handler: str, at: datetime) -> None: ...

    @abc.abstractmethod
    async def failed(
        self, position: int, handler: str, error: str, *, retry_at: datetime | None, at: datetime
    ) -> None:
        """The call failed: due again at ``retry_at``, or parked when it is ``None``."""

    @abc.abstractmethod
    async def parked(self, *, limit: int = 100) -> Sequence[HandlerCall]:
        """Parked calls, oldest event first."""

    @abc.abstractmethod
    async def count_parked(self) -> int: ...

    @abc.abstractmethod
    async def retry(self, positions: Sequence[int] | None, at: datetime) -> int:
        """Unpark the parked calls of these events (every parked call when ``None``), due at
        ``at`` with their attempts counted anew; how many."""

    @abc.abstractmethod
    async def remove_done_before(self, before: datetime, *, limit: int) -> int:
        """Delete up to ``limit`` calls done before ``before``, never a pending or parked one
        (``stockroom maintenance purge``); how many. A done call is only a receipt by then:
        its event cannot be dispatched again (the outbox row is marked dispatched), so
        nothing reads it."""
