"""A trigram index on items.title for ``GET /items/?q=`` (issue 24), PostgreSQL only.

``title ILIKE '%text%'`` cannot use a B-tree (the text may start anywhere in the title); a GIN
index of the title's trigrams (pg_trgm) can, for any text of three characters or more. On
SQLite this migration does nothing: there the search scans, which is fine for the embedded
default's catalog sizes.

pg_trgm ships with PostgreSQL (contrib) and is a trusted extension since PostgreSQL 13: the
database's owner (or anyone with CREATE on it) may create it, no superuser needed.

A new index only: the code at 0009 never relies on it, so it serves this schema (an expand).

Revision ID: 0010_items_title_search
Revises: 0009_address_activity
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from migrations.online import create_index_concurrently

revision: str = "0010_items_title_search"
down_revision: str | None = "0009_address_activity"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
served_from: str = "0009_address_activity"  # expand: the code at 0009 serves this schema

INDEX = "ix_items_title_trgm"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # Concurrently: the catalog stays writable while the index is built (migrations/online.py).
    create_index_concurrently(
        INDEX,
        "items",
        ["title"],
        postgresql_using="gin",
        postgresql_ops={"title": "gin_trgm_ops"},
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(INDEX, table_name="items", if_exists=True)
    # The extension stays: other objects in the database may use it, and having it costs
    # nothing; a new upgrade finds it (IF NOT EXISTS).
