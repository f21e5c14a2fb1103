"""Sign-ups per address and known clients, beside the failed-login counters (issue 26).

A new table only: the code at 0008 never reads it, so it serves this schema (an expand).

Revision ID: 0009_address_activity
Revises: 0008_schema_window
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_address_activity"
down_revision: str | None = "0008_schema_window"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
served_from: str = "0008_schema_window"  # expand: the code at 0008 serves this schema


def upgrade() -> None:
    op.create_table(
        "address_activity",
        sa.Column(
            "kind",
            sa.Enum(
                "sign_up",
                "login",
                name="activity_kind",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name="pk_address_activity"),
    )
    op.create_index("ix_address_activity_last_at", "address_activity", ["last_at"])


def downgrade() -> None:
    op.drop_index("ix_address_activity_last_at", table_name="address_activity")
    op.drop_table("address_activity")
