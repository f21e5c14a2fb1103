"""Tables and the imperative mapping that keeps the domain classes free of SQLAlchemy."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import registry, relationship

from adapters.column_types import Cents, UtcDateTime
from domain.address_activity import Activity
from domain.catalog_import import StockMode
from domain.idempotency import IdempotencyRecord
from domain.item import Item
from domain.login_throttle import ThrottleScope
from domain.order import Order, OrderLine, OrderStatus
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

# Every table with an integer id says ``sqlite_autoincrement=True``. Without AUTOINCREMENT,
# SQLite hands out max(id) + 1: delete the newest row and its id comes back for the next one,
# so a deleted user's token (or a script's item id) would name someone else's row.
# PostgreSQL's sequences never go back; this keeps SQLite's ids the same way.

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
    # Title search (``GET /items/?q=``, ILIKE '%text%'): a trigram index, PostgreSQL only
    # (migration 0010); on SQLite the search scans, which is fine for the embedded default.
    Index(
        "ix_items_title_trgm",
        "title",
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql"),
    sqlite_autoincrement=True,
)


def _string_enum(enum: type[StrEnum], name: str) -> Enum:
    """A VARCHAR with a CHECK constraint: portable, and new values need no type migration."""
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # Stored lower-cased by the domain, so a plain unique constraint is case-insensitive.
    Column("email", String(254), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", _string_enum(Role, "user_role"), nullable=False),
    Column("is_active", Boolean(create_constraint=False), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Bumped by whatever ends the account's sessions; tokens carry it (domain.user.User).
    Column("credentials_version", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("customer_id", Integer, ForeignKey("users.id", ondelete="RESTRICT"), nullable=False),
    Column("status", _string_enum(OrderStatus, "order_status"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_orders_customer_id_id", "customer_id", "id"),
    sqlite_autoincrement=True,
)

order_lines = Table(
    "order_lines",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    # RESTRICT: an item that was ever sold keeps its row, so its orders can always be read
    # and a cancellation always has somewhere to put the stock back.
    Column("item_id", Integer, ForeignKey("items.id", ondelete="RESTRICT"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price_cents", Cents, nullable=False),
    CheckConstraint("quantity > 0", name="quantity_positive"),
    Index("ix_order_lines_order_id", "order_id"),
    Index("ix_order_lines_item_id", "item_id"),
    sqlite_autoincrement=True,
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # Keys are scoped to a customer: another customer's key can never replay your order.
    Column("customer_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("request_fingerprint", String(64), nullable=False),
    Column("order_id", Integer, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("customer_id", "key", name="pk_idempotency_keys"),
    # The purge takes the oldest keys first, a batch at a time.
    Index("ix_idempotency_keys_created_at", "created_at"),
)

# Failed-login counters (domain.login_throttle), written with Core statements only: an atomic
# upsert per failure, never an object loaded and saved back.
login_failures = Table(
    "login_failures",
    metadata,
    Column("scope", _string_enum(ThrottleScope, "throttle_scope"), nullable=False),
    # An email, an address, or "email address"; addresses are clipped by the domain.
    Column("key", String(400), nullable=False),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UtcDateTime, nullable=False),
    Column("blocked_until", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("scope", "key", name="pk_login_failures"),
    # The purge deletes by age.
    Index("ix_login_failures_last_failure_at", "last_failure_at"),
)

# Sign-ups per address and known clients (domain.address_activity), written like the failed-
# login counters: one atomic upsert per event.
address_activity = Table(
    "address_activity",
    metadata,
    Column("kind", _string_enum(Activity, "activity_kind"), nullable=False),
    # A network, or "email network"; addresses are clipped by the domain.
    Column("key", String(400), nullable=False),
    Column("count", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("last_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("kind", "key", name="pk_address_activity"),
    Index("ix_address_activity_last_at", "last_at"),
)

# What a catalog import has committed, batch by batch (domain.catalog_import.ImportedBatch):
# a re-run of the same file skips the lines a batch here covers. Written and read with Core
# statements: a record is never loaded to be changed.
import_batches = Table(
    "import_batches",
    metadata,
    Column("file_digest", String(64), nullable=False),
    Column("first_line", Integer, nullable=False),
    Column("last_line", Integer, nullable=False),
    Column("mode", _string_enum(StockMode, "stock_mode"), nullable=False),
    Column("committed_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("file_digest", "first_line", name="pk_import_batches"),
)


# Domain events, written by the unit of work in the transaction of the change they report
# (service_layer/unit_of_work.py); the contract with the relay and consumers is docs/events.md.
# ``position`` orders the rows (BIGINT; SQLite's AUTOINCREMENT needs its INTEGER type).
outbox = Table(
    "outbox",
    metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("id", String(36), nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("data", Text, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("published_at", UtcDateTime, nullable=True),  # set by the relay (to the broker)
    # Set once the in-process dispatcher has noted the handler calls this row is owed
    # (event_handling); a column rather than a checkpoint position, because on PostgreSQL a
    # row with a lower position can commit after one with a higher position.
    Column("dispatched_at", UtcDateTime, nullable=True),
    # The first rows not yet published / dispatched, by position: partial, so they stay as
    # small as the backlog however long the table is.
    Index(
        "ix_outbox_unpublished",
        "position",
        postgresql_where=text("published_at IS NULL"),
        sqlite_where=text("published_at IS NULL"),
    ),
    Index(
        "ix_outbox_undispatched",
        "position",
        postgresql_where=text("dispatched_at IS NULL"),
        sqlite_where=text("dispatched_at IS NULL"),
    ),
    sqlite_autoincrement=True,
)

# One row per (outbox row, in-process handler) call (service_layer/messagebus.py). No foreign
# key to the outbox: the relay's purge of published rows must not wait on (or cascade into)
# handler bookkeeping; it purges only dispatched rows whose calls are over.
event_handling = Table(
    "event_handling",
    metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("handler", String(100), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("parked_at", UtcDateTime, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("done_at", UtcDateTime, nullable=True),
    PrimaryKeyConstraint("position", "handler", name="pk_event_handling"),
    # The calls due: neither done nor parked, by when.
    Index(
        "ix_event_handling_due",
        "next_attempt_at",
        postgresql_where=text("done_at IS NULL AND parked_at IS NULL"),
        sqlite_where=text("done_at IS NULL AND parked_at IS NULL"),
    ),
    # The parked calls (listed, counted for the gauge): as few as the failures, however many
    # calls are done.
    Index(
        "ix_event_handling_parked",
        "position",
        postgresql_where=text("parked_at IS NOT NULL"),
        sqlite_where=text("parked_at IS NOT NULL"),
    ),
)

# Leases by name: one row each, taken with a conditional UPDATE (adapters/outbox_store.py,
# ``take_lease``): who relays the outbox, one relay at a time. Migration 0012.
leases = Table(
    "leases",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("holder", String(200), nullable=True),
    Column("expires_at", UtcDateTime, nullable=False),
)


def start_mappers() -> None:
    """Map the domain classes onto the tables; safe to call more than once per process."""
    if mapper_registry.mappers:
        return
    mapper_registry.map_imperatively(Item, items, properties={"price": items.c.price_cents})
    mapper_registry.map_imperatively(User, users)
    mapper_registry.map_imperatively(
        OrderLine, order_lines, properties={"unit_price": order_lines.c.unit_price_cents}
    )
    mapper_registry.map_imperatively(
        Order,
        orders,
        properties={
            # selectin: lines arrive with the order inside the repository, so nothing is
            # lazily loaded after the unit of work has closed its session.
            "lines": relationship(
                OrderLine,
                lazy="selectin",
                cascade="all, delete-orphan",
                order_by=order_lines.c.id,
            )
        },
    )
    mapper_registry.map_imperatively(IdempotencyRecord, idempotency_keys)
