"""Accounts that stay yours: a credentials version per user, and ids never reused on SQLite.

Revision ID: 0004_accounts
Revises: 0003_orders
Create Date: 2026-11-27

SQLite gives ``AUTOINCREMENT`` only to a table created with it, so each table with an integer
id is rebuilt (batch mode, ``recreate="always"``): a copy with the keyword, the rows copied
over with their ids, the old table dropped, the copy renamed. ``sqlite_sequence`` then starts
after the largest id present. The environment turns foreign keys off around SQLite
migrations (``migrations/env.py``): dropping a parent table with them on would run its
``ON DELETE CASCADE`` and empty the order lines. PostgreSQL's sequences never reuse an id, so
there only the column is added.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_accounts"
down_revision: str | None = "0003_orders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Parents before children, so each rebuilt table's foreign keys name tables already rebuilt.
TABLES_WITH_INTEGER_IDS = ("items", "users", "orders", "order_lines")


def upgrade() -> None:
    credentials_version = sa.Column(
        "credentials_version", sa.Integer(), nullable=False, server_default="0"
    )
    if op.get_bind().dialect.name != "sqlite":
        op.add_column("users", credentials_version)
        return
    for table in TABLES_WITH_INTEGER_IDS:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ) as batch:
            if table == "users":
                batch.add_column(credentials_version)


def downgrade() -> None:
    # AUTOINCREMENT stays on SQLite: giving ids back for reuse is never wanted.
    with op.batch_alter_table("users") as batch:
        batch.drop_column("credentials_version")
