"""Shared by the order tests: accounts in a store, request lines, and the whole committed state
by value (items, orders and idempotency keys), to prove a failed write left nothing behind."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from prometheus_client import REGISTRY

from domain.item import Item
from domain.order import LineRequest, Order
from domain.user import Role, User
from service_layer.actor import Actor
from service_layer.errors import TransientConflict
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.support import seed_one, snapshot


async def add_user(store: InMemoryStore, *, admin: bool = False) -> Actor:
    """An account committed straight to ``store`` (no password hashing: nobody logs in)."""
    role = Role.ADMIN if admin else Role.CUSTOMER
    user = User(f"{role.value}-{secrets.token_hex(4)}@example.com", "not-a-hash", role=role)
    uow = FakeUnitOfWork(store)
    async with uow:
        await uow.users.add(user)
        await uow.commit()
    assert user.id is not None
    return Actor(user.id, is_admin=admin)


async def shelf(store: InMemoryStore, *rows: tuple[str, int, str]) -> list[Item]:
    """Items committed to ``store`` from (sku, quantity, price)."""
    return [
        await seed_one(store, sku=sku, quantity=quantity, price=Decimal(price))
        for sku, quantity, price in rows
    ]


def lines(*wanted: tuple[str, int]) -> list[LineRequest]:
    return [LineRequest(sku, quantity) for sku, quantity in wanted]


def _order_row(order: Order) -> tuple[Any, ...]:
    return (
        order.customer_id,
        order.status,
        order.created_at,
        order.updated_at,
        tuple(
            (line.id, line.item_id, line.sku, line.quantity, line.unit_price)
            for line in order.lines
        ),
    )


def state(store: InMemoryStore) -> dict[str, Any]:
    """Everything a write could change, by value."""
    return {
        "items": snapshot(store),
        "orders": {key: _order_row(order) for key, order in store.orders.items()},
        "idempotency": {
            key: (record.request_fingerprint, record.order_id)
            for key, record in store.idempotency.items()
        },
        "users": {
            key: (user.email, user.role, user.is_active) for key, user in store.users.items()
        },
    }


def stock(store: InMemoryStore) -> dict[str, int]:
    return {item.sku: item.quantity for item in store.items.values()}


def counter(name: str, labels: dict[str, str] | None = None) -> float:
    """A Prometheus sample's current value (0 before the first increment)."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


class ConflictingCommits(FakeUnitOfWork):
    """The database aborts the first ``conflicts`` commits to resolve a conflict: nothing of
    those units is written, as when PostgreSQL reports a serialization failure or deadlock."""

    def __init__(self, store: InMemoryStore, conflicts: int = 1) -> None:
        super().__init__(store)
        self.conflicts = conflicts

    async def _commit(self) -> None:
        if self.conflicts > 0:
            self.conflicts -= 1
            raise TransientConflict("could not serialize access due to concurrent update")
        await super()._commit()
