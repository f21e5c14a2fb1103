"""The tutorial's declarative models and response schemas, mapped onto Stockroom's tables, and
the order built from the rows it locked: shared by classic async and advanced-alchemy, so
those two differ only in how they handle sessions, queries and commits."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bench.baselines.common import CURRENCY, ORDER_STATUS, check_stock, money


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)

    @property
    def price(self) -> str:
        return money(self.price_cents)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lines: Mapped[list[OrderLine]] = relationship()

    @property
    def total(self) -> str:
        return money(sum(line.unit_price_cents * line.quantity for line in self.lines))

    @property
    def currency(self) -> str:
        return CURRENCY


class OrderLine(Base):
    __tablename__ = "order_lines"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)

    @property
    def unit_price(self) -> str:
        return money(self.unit_price_cents)

    @property
    def total(self) -> str:
        return money(self.unit_price_cents * self.quantity)


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    sku: str
    title: str
    description: str | None
    price: str
    quantity: int
    currency: str = CURRENCY


class LineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    item_id: int
    sku: str
    quantity: int
    unit_price: str
    total: str


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    customer_id: int
    status: str
    lines: list[LineOut]
    total: str
    currency: str
    created_at: datetime
    updated_at: datetime


def new_order(customer_id: int, items: list[Item], wanted: dict[str, int]) -> Order:
    """Check the locked items' stock, take what is ordered and build the order with its lines
    (left to the session's flush: UPDATE items, INSERT orders, INSERT order_lines)."""
    check_stock(wanted, {item.sku: item.quantity for item in items})
    now = datetime.now(UTC)
    order = Order(customer_id=customer_id, status=ORDER_STATUS, created_at=now, updated_at=now)
    for item in items:
        quantity, price = wanted[item.sku], item.price_cents
        item.quantity -= quantity
        line = OrderLine(item_id=item.id, sku=item.sku, quantity=quantity, unit_price_cents=price)
        order.lines.append(line)
    return order
