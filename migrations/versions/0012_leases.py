"""Leases: which process does a job that one process at a time must do (issue 25).

The one lease so far is "outbox": the relay that holds it publishes the outbox to the broker,
so two relays never publish side by side (adapters/outbox_store.py). A row per lease, taken
and renewed with a conditional UPDATE: no session state, so it works through PgBouncer in
transaction mode, where advisory locks and LISTEN do not.

A new table only: the code at 0011 never reads it, so it serves this schema (an expand).

Revision ID: 0012_leases
Revises: 0011_outbox
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_leases"
down_revision: str | None = "0011_outbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
served_from: str = "0011_outbox"  # expand: the code at 0011 serves this schema


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )


def downgrade() -> None:
    op.drop_table("leases")
