"""Schema changes that run while the service serves (PostgreSQL).

A DDL statement waiting for its lock (``ALTER TABLE items`` behind a long transaction that
read ``items``) is first in that table's lock queue: every purchase after it waits behind
it, for as long as it waits. So every migration runs in a transaction of its own under a
short ``lock_timeout`` (``LockPolicy``, set by ``migrations/env.py``): a statement that cannot
get its lock in time fails, its migration is rolled back, the purchases queued behind it go
on, and ``entrypoints.migrations`` tries the migration again after a pause.

An index on a table that already has rows: ``create_index_concurrently``. A plain ``CREATE
INDEX`` holds a lock that stops every write to the table for the whole build; built
``CONCURRENTLY``, it blocks no read or write. SQLite has neither: the plain form there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

# Where ``entrypoints.migrations`` hands the policy to ``migrations/env.py``.
LOCK_POLICY = "lock_policy"

_IS_VALID = text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)")


@dataclass(frozen=True)
class LockPolicy:
    """``timeout``: seconds a statement may wait for a lock (a purchase queued behind it
    waits about as long); ``attempts``: tries of each migration in all. The pause before a
    new try is the timeout, doubled before each next one: time for the blocker to end."""

    timeout: float = 1.0
    attempts: int = 5

    def pause_after(self, attempt: int) -> float:
        return float(self.timeout * 2 ** (attempt - 1))


def limit_lock_waits(connection: Connection, policy: LockPolicy) -> None:
    """``lock_timeout`` until the end of the transaction ``connection`` is in (``SET LOCAL``:
    gone at commit, so safe behind a transaction pooler)."""
    milliseconds = max(1, round(policy.timeout * 1000))
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")


def create_index_concurrently(
    index_name: str, table_name: str, columns: Sequence[str], **kw: Any
) -> None:
    """``op.create_index``, built ``CONCURRENTLY`` on PostgreSQL.

    ``CONCURRENTLY`` cannot run in a transaction: what the migration did before is committed
    first (so make the index a migration of its own). The build waits for every transaction
    older than it, however long, without the lock timeout: while it waits, reads and writes go
    on. A build cut short (a cancel, a crash) leaves an INVALID index that would pass for the
    real one: the next run drops it and builds again. One that succeeded before the rest of
    its migration failed is kept (``if_not_exists``)."""
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(index_name, table_name, list(columns), **kw)
        return
    context = op.get_context()
    with context.autocommit_block():
        if op.get_bind().scalar(_IS_VALID, {"name": index_name}) is False:
            op.drop_index(index_name, table_name=table_name, postgresql_concurrently=True)
        op.create_index(
            index_name,
            table_name,
            list(columns),
            postgresql_concurrently=True,
            if_not_exists=True,
            **kw,
        )
    # Alembic has begun a new transaction for the rest of the migration: the same limit.
    policy = context.config.attributes.get(LOCK_POLICY) if context.config else None
    limit_lock_waits(op.get_bind(), policy or LockPolicy())
