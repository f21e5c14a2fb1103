"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}
# The oldest code that can serve the schema this migration leaves (migrations/window.py):
# the release running during `stockroom db upgrade` keeps serving, and restarting, only if it
# is that code or newer.
# - Expand (a new table, a nullable column, an index): the revision before this one,
#   ${repr(down_revision)}.
# - Contract (drop or rename what older code uses, a NOT NULL column it does not fill): this
#   revision, the default. Ship it a release after the one that stopped using what it removes.
# An index on a table that has rows: create_index_concurrently (migrations/online.py).
served_from: str = ${repr(up_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
