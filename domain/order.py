"""The `Order` aggregate and the rules for taking and returning stock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from domain.errors import IllegalTransition, InvalidValue, OutOfStock, UnknownSku
from domain.events import OrderCancelled, OrderedLine, OrderPlaced, OrderShipped, RecordsEvents
from domain.item import DEFAULT_LOW_STOCK_THRESHOLD, Item, normalise_sku

MAX_LINES = 100
MAX_LINE_QUANTITY = 10_000


class OrderStatus(StrEnum):
    PLACED = "placed"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class LineRequest:
    """What a customer asks for: so many of a SKU."""

    sku: str
    quantity: int


@dataclass(eq=False)
class OrderLine:
    """One SKU on an order, with the price it was sold at (later repricing does not touch it).

    ``item_id`` ties the line to the catalog row the stock came from, so cancelling puts it
    back there even if the item's SKU has changed since.
    """

    item_id: int
    sku: str
    quantity: int
    unit_price: Decimal
    id: int | None = None

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


def normalise_lines(lines: Iterable[LineRequest]) -> list[LineRequest]:
    """Canonical request lines: SKUs normalised, repeats merged, sorted by SKU.

    Sorting gives one canonical form for idempotency fingerprints and one lock order.
    """
    merged: dict[str, int] = {}
    for line in lines:
        if isinstance(line.quantity, bool) or not isinstance(line.quantity, int):
            raise InvalidValue("line quantity must be a whole number", field="lines")
        if line.quantity < 1 or line.quantity > MAX_LINE_QUANTITY:
            raise InvalidValue(
                f"line quantity must be between 1 and {MAX_LINE_QUANTITY}", field="lines"
            )
        sku = normalise_sku(line.sku)
        merged[sku] = merged.get(sku, 0) + line.quantity
        if merged[sku] > MAX_LINE_QUANTITY:
            raise InvalidValue(f"at most {MAX_LINE_QUANTITY} of one SKU per order", field="lines")
    if not merged:
        raise InvalidValue("an order needs at least one line", field="lines")
    if len(merged) > MAX_LINES:
        raise InvalidValue(f"an order has at most {MAX_LINES} lines", field="lines")
    return [LineRequest(sku, quantity) for sku, quantity in sorted(merged.items())]


@dataclass(eq=False)
class Order(RecordsEvents):
    customer_id: int
    lines: list[OrderLine] = field(default_factory=list)
    status: OrderStatus = OrderStatus.PLACED
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: int | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.total for line in self.lines), Decimal("0.00"))

    @classmethod
    def place(
        cls,
        customer_id: int,
        requested: Sequence[LineRequest],
        stock: Iterable[Item],
        *,
        low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD,
    ) -> Order:
        """Take stock for every line or for none.

        ``requested`` must come from ``normalise_lines``; ``stock`` holds the items the lines
        name (locked by the caller). Raises ``UnknownSku`` for SKUs the catalog lacks, then
        ``OutOfStock`` naming every short SKU; only when neither applies is anything taken.
        The order records ``OrderPlaced``; each item this sale leaves at or below
        ``low_stock_threshold`` records ``StockLow``.
        """
        by_sku = {item.sku: item for item in stock}
        unknown = [line.sku for line in requested if line.sku not in by_sku]
        if unknown:
            raise UnknownSku(unknown)
        short = [line.sku for line in requested if by_sku[line.sku].quantity < line.quantity]
        if short:
            raise OutOfStock(short)
        lines, told = [], []
        for line in requested:
            item = by_sku[line.sku]
            item.take(line.quantity, low_stock_threshold=low_stock_threshold)
            assert item.id is not None, "stock comes from stored items"
            lines.append(OrderLine(item.id, item.sku, line.quantity, item.price))
            told.append(OrderedLine(item.id, item.sku, line.quantity, item.price))
        order = cls(customer_id=customer_id, lines=lines)
        order.events.append(OrderPlaced(customer_id, tuple(told), order.total))
        return order

    def cancel(self, stock: Iterable[Item]) -> None:
        """Put every line's quantity back on its item; only a placed order can be cancelled."""
        self._require(OrderStatus.PLACED, "cancel")
        by_id = {item.id: item for item in stock}
        for line in self.lines:
            by_id[line.item_id].put_back(line.quantity)
        self._move_to(OrderStatus.CANCELLED)
        self.events.append(OrderCancelled(self.customer_id))

    def ship(self) -> None:
        """Shipping is final: a shipped order can be neither cancelled nor shipped again."""
        self._require(OrderStatus.PLACED, "ship")
        self._move_to(OrderStatus.SHIPPED)
        self.events.append(OrderShipped(self.customer_id))

    @property
    def item_ids(self) -> list[int]:
        return sorted({line.item_id for line in self.lines})

    def _require(self, status: OrderStatus, action: str) -> None:
        if self.status is not status:
            raise IllegalTransition(self.status.value, action)

    def _move_to(self, status: OrderStatus) -> None:
        self.status = status
        self.updated_at = datetime.now(UTC)
