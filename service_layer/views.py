"""Read models: plain immutable data that is safe to use after the session is gone."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domain.item import Item


@dataclass(frozen=True, slots=True)
class ItemView:
    id: int
    sku: str
    title: str
    description: str | None
    price: Decimal
    quantity: int

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
