"""What happened to an aggregate, recorded by its own methods: plain values, no framework.

An aggregate appends events to its ``events`` list as its methods change it (``Order.place``,
``Item.reprice``, ...). The unit of work, on commit, moves the events of every aggregate it saw
into the outbox, in the same transaction as the change (``service_layer/unit_of_work.py``), and
handlers react once that transaction has committed (``service_layer/messagebus.py``).

An event does not carry its aggregate's id: a new order or item has none until the database
assigns it at the flush, which comes after ``Order.place`` has recorded ``OrderPlaced``. The
outbox row takes the id from the aggregate itself when the unit writes it, after a flush
(``service_layer/outbox.py``), so the id in the row is the one the database gave, never a
placeholder patched later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    """``type``: the event's name outside this process (outbox rows, the broker)."""

    type: ClassVar[str]
    occurred_at: datetime = field(default_factory=partial(datetime.now, UTC), kw_only=True)


@dataclass(frozen=True, slots=True)
class OrderedLine:
    item_id: int
    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class OrderPlaced(Event):
    type: ClassVar[str] = "order.placed"
    customer_id: int
    lines: tuple[OrderedLine, ...]
    total: Decimal


@dataclass(frozen=True, slots=True)
class OrderCancelled(Event):
    type: ClassVar[str] = "order.cancelled"
    customer_id: int


@dataclass(frozen=True, slots=True)
class OrderShipped(Event):
    type: ClassVar[str] = "order.shipped"
    customer_id: int


@dataclass(frozen=True, slots=True)
class ItemCreated(Event):
    type: ClassVar[str] = "item.created"
    sku: str
    title: str
    price: Decimal
    quantity: int


@dataclass(frozen=True, slots=True)
class ItemPriceChanged(Event):
    type: ClassVar[str] = "item.price_changed"
    sku: str
    old_price: Decimal
    new_price: Decimal


@dataclass(frozen=True, slots=True)
class StockLow(Event):
    """A sale left the item at or below the low-stock threshold (``domain.item``)."""

    type: ClassVar[str] = "stock.low"
    sku: str
    title: str
    quantity: int
    threshold: int


@dataclass(frozen=True, slots=True)
class StockRestocked(Event):
    type: ClassVar[str] = "stock.restocked"
    sku: str
    added: int
    quantity: int


@dataclass(frozen=True, slots=True)
class ItemsImported(Event):
    """A batch of a bulk load (``services.catalog_import``) created and updated these items,
    by SKU. One event per batch, not an ``item.created`` per row: a load writes its items as
    rows, and an event row per item made the import about three times slower (bench/README.md,
    "Import"). A consumer that keeps a copy of the catalog re-reads these SKUs."""

    type: ClassVar[str] = "items.imported"
    created: tuple[str, ...]
    updated: tuple[str, ...]


class RecordsEvents:
    """Gives an aggregate its ``events``: what its methods recorded that no commit has taken
    yet. Made on first use rather than in ``__init__``, because the ORM builds the aggregates
    it loads without calling ``__init__``; and not a dataclass field, so copies of an aggregate
    (the in-memory repositories make them) start with none."""

    @property
    def events(self) -> list[Event]:
        recorded: list[Event] | None = self.__dict__.get("_recorded_events")
        if recorded is None:
            recorded = self.__dict__["_recorded_events"] = []
        return recorded
