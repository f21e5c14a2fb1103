"""The compatible window: the oldest code that may serve the schema, beside its version.

Code older than a migration does not have its script, so it cannot read the migration's
``served_from``; ``upgrade`` writes it into this column of Alembic's version table instead
(``migrations/window.py``), where a running release reads whether it may serve a schema newer
than itself. An expand migration: the code before it reads only ``version_num``.

Revision ID: 0008_schema_window
Revises: 0007_import_batches
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_schema_window"
down_revision: str | None = "0007_import_batches"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
served_from: str = "0007_import_batches"  # expand: the code at 0007 serves this schema


def upgrade() -> None:
    # As long as version_num (Alembic's VARCHAR(32)): it holds a revision id too.
    op.add_column("alembic_version", sa.Column("served_from", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alembic_version") as batch:  # SQLite: a rebuilt table
        batch.drop_column("served_from")
