"""Domain events: the outbox and the in-process handlers' bookkeeping (issue 25).

``outbox``: one row per domain event, written by the unit of work in the transaction of the
change it reports; the relay publishes it (``published_at``) and the in-process dispatcher
notes the handler calls it is owed (``dispatched_at``). ``event_handling``: one row per
(event, handler) call, with its attempts, when it is due again, and whether it is parked.

New tables only: the code at 0010 never reads them, so it serves this schema (an expand).

Revision ID: 0011_outbox
Revises: 0010_items_title_search
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_outbox"
down_revision: str | None = "0010_items_title_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
served_from: str = "0010_items_title_search"  # expand: the code at 0010 serves this schema

POSITION = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _partial(condition: str) -> dict[str, sa.TextClause]:
    return {"postgresql_where": sa.text(condition), "sqlite_where": sa.text(condition)}


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("position", POSITION, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("position", name="pk_outbox"),
        sa.UniqueConstraint("id", name="uq_outbox_id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["position"], **_partial("published_at IS NULL")
    )
    op.create_index(
        "ix_outbox_undispatched", "outbox", ["position"], **_partial("dispatched_at IS NULL")
    )
    op.create_table(
        "event_handling",
        sa.Column("position", POSITION, nullable=False),
        sa.Column("handler", sa.String(length=100), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("position", "handler", name="pk_event_handling"),
    )
    op.create_index(
        "ix_event_handling_due",
        "event_handling",
        ["next_attempt_at"],
        **_partial("done_at IS NULL AND parked_at IS NULL"),
    )
    op.create_index(
        "ix_event_handling_parked",
        "event_handling",
        ["position"],
        **_partial("parked_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_event_handling_parked", table_name="event_handling")
    op.drop_index("ix_event_handling_due", table_name="event_handling")
    op.drop_table("event_handling")
    op.drop_index("ix_outbox_undispatched", table_name="outbox")
    op.drop_index("ix_outbox_unpublished", table_name="outbox")
    op.drop_table("outbox")
