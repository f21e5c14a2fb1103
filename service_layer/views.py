"""Read models: plain immutable data that is safe to use after the session is gone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from domain.item import Item
from domain.order import Order, OrderLine, OrderStatus
from domain.user import Role, User

# The ISO 4217 code of the shop's one currency when nothing names another: the default of
# STOCKROOM_CURRENCY (entrypoints/settings.py), and what a view says until the HTTP edge labels
# it with the configured code.
DEFAULT_CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class ItemView:
    id: int
    sku: str
    title: str
    description: str | None
    price: Decimal
    quantity: int
    # What the amounts are in: a label, not part of the stored item. The services and the read
    # port know no currency, so every view starts with the default; each API route that answers
    # with views sets the shop's configured one (entrypoints/api/routers), and the CLI and the
    # unit tests, which show no currency, keep the default.
    currency: str = DEFAULT_CURRENCY

    @classmethod
    def from_domain(cls, item: Item) -> ItemView:
        if item.id is None:
            raise ValueError("an item without an id has not been stored")
        return cls(
            id=item.id,
            sku=item.sku,
            title=item.title,
            description=item.description,
            price=item.price,
            quantity=item.quantity,
        )


@dataclass(frozen=True, slots=True)
class UserView:
    """Everything about a user that may leave the service: never the password hash."""

    id: int
    email: str
    role: Role
    is_active: bool
    created_at: datetime
    # Which tokens are still the account's (domain.user.User); not secret, but no client
    # needs it, so the API's UserOut leaves it out.
    credentials_version: int

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @classmethod
    def from_domain(cls, user: User) -> UserView:
        if user.id is None:
            raise ValueError("a user without an id has not been stored")
        return cls(
            id=user.id,
            email=user.email,
            role=user.role,
            is_active=user.is_active,
            created_at=user.created_at,
            credentials_version=user.credentials_version,
        )


@dataclass(frozen=True, slots=True)
class OrderLineView:
    item_id: int
    sku: str
    quantity: int
    unit_price: Decimal
    total: Decimal

    @classmethod
    def from_domain(cls, line: OrderLine) -> OrderLineView:
        return cls(line.item_id, line.sku, line.quantity, line.unit_price, line.total)


@dataclass(frozen=True, slots=True)
class OrderView:
    id: int
    customer_id: int
    status: OrderStatus
    lines: tuple[OrderLineView, ...]
    total: Decimal
    created_at: datetime
    updated_at: datetime
    currency: str = DEFAULT_CURRENCY  # of the total and every line's amounts; see ItemView
    # Filled by place_order only: (item id, stock left) for each item right after the sale,
    # as seen inside its transaction, so the caller can decide on follow-up work (the API's
    # low-stock alert) without another query. Not part of what the order is, so it is left
    # out of equality; empty for any other read, and for an idempotent replay.
    stock_left: tuple[tuple[int, int], ...] = field(default=(), compare=False)
    # True when place_order answered from an earlier request with the same Idempotency-Key
    # (nothing was sold now): the API says so in Idempotent-Replayed. Not part of the order.
    replayed: bool = field(default=False, compare=False)

    @classmethod
    def from_domain(cls, order: Order, stock: Iterable[Item] = ()) -> OrderView:
        if order.id is None:
            raise ValueError("an order without an id has not been stored")
        return cls(
            id=order.id,
            customer_id=order.customer_id,
            status=order.status,
            lines=tuple(OrderLineView.from_domain(line) for line in order.lines),
            total=order.total,
            created_at=order.created_at,
            updated_at=order.updated_at,
            stock_left=tuple(sorted((item.id, item.quantity) for item in stock if item.id)),
        )
