"""factory-boy factories for domain objects and API payloads.

SKUs carry a per-run prefix, so tests never collide with each other or with an earlier run.
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

import factory

from domain.item import Item

RUN = secrets.token_hex(3).upper()


class ItemFactory(factory.Factory):  # type: ignore[misc]
    class Meta:
        model = Item

    sku = factory.Sequence(lambda n: f"T{RUN}-{n:05d}")
    title = factory.Faker("sentence", nb_words=3)
    description = factory.Faker("sentence")
    price = factory.Faker("pydecimal", left_digits=3, right_digits=2, min_value=Decimal("0.01"))
    quantity = factory.Faker("random_int", min=0, max=50)


class ItemPayloadFactory(factory.DictFactory):  # type: ignore[misc]
    """A valid ``POST /items/`` body, JSON-ready."""

    sku = factory.Sequence(lambda n: f"p{RUN}-{n:05d}".lower())
    title = factory.Faker("sentence", nb_words=3)
    description = factory.Faker("sentence")
    price = factory.Faker("pyfloat", left_digits=3, right_digits=2, min_value=0.01, max_value=999)
    quantity = factory.Faker("random_int", min=0, max=50)


def item_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = ItemPayloadFactory(**overrides)
    return payload
