"""Idempotency keys expire: an index on created_at, for the purge.

The purge deletes the oldest keys in batches (``created_at <= cutoff ORDER BY created_at
LIMIT n``); without this index every batch would scan the whole table. Every key already
has its created_at (0003 made it NOT NULL), so no data changes.

Built ``CONCURRENTLY`` on PostgreSQL (``migrations/online.py``): every purchase with an
Idempotency-Key writes to this table, and a plain build would stop those writes for as long
as it reads the table. The index is the same either way.

Revision ID: 0006_idempotency_expiry
Revises: 0005_login_throttle
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from migrations import online

revision: str = "0006_idempotency_expiry"
down_revision: str | None = "0005_login_throttle"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    online.create_index_concurrently(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
