"""Tables and the imperative mapping that keeps the domain classes free of SQLAlchemy."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import registry

from adapters.money import Cents
from domain.item import Item

# Named constraints make migrations reproducible and let us translate violations by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
mapper_registry = registry(metadata=metadata)

items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=True),
    Column("price_cents", Cents, nullable=False),
    Column("quantity", Integer, nullable=False),
    CheckConstraint("price_cents >= 0", name="price_not_negative"),
    CheckConstraint("quantity >= 0", name="quantity_not_negative"),
)


def start_mappers() -> None:
    """Map the domain classes onto the tables; safe to call more than once per process."""
    if mapper_registry.mappers:
        return
    mapper_registry.map_imperatively(Item, items, properties={"price": items.c.price_cents})
