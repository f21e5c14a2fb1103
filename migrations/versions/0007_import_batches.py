"""A journal of catalog imports: the lines each committed batch covered.

``stockroom items import`` records every batch in the batch's own transaction, so a run that
stops half-way can be run again and continue after its last committed batch (see
``domain.catalog_import``). A new table; no data changes.

Revision ID: 0007_import_batches
Revises: 0006_idempotency_expiry
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_import_batches"
down_revision: str | None = "0006_idempotency_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "import_batches",
        sa.Column("file_digest", sa.String(length=64), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column(
            "mode",
            sa.Enum(
                "set",
                "add",
                name="stock_mode",
                native_enum=False,
                create_constraint=True,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("file_digest", "first_line", name="pk_import_batches"),
    )


def downgrade() -> None:
    op.drop_table("import_batches")
