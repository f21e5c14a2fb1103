"""Tables and the imperative mapping that keeps the domain classes free of SQLAlchemy."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import registry

from adapters.column_types import Cents, UtcDateTime
from domain.item import Item
from domain.user import Role, User

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

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Stored lower-cased by the domain, so a plain unique constraint is case-insensitive.
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column(
        "role",
        Enum(
            Role,
            name="user_role",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda roles: [role.value for role in roles],
        ),
        nullable=False,
    ),
    Column("is_active", Boolean(create_constraint=False), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)


def start_mappers() -> None:
    """Map the domain classes onto the tables; safe to call more than once per process."""
    if mapper_registry.mappers:
        return
    mapper_registry.map_imperatively(Item, items, properties={"price": items.c.price_cents})
    mapper_registry.map_imperatively(User, users)
