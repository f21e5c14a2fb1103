"""What can go wrong with the database, classified in one place into the service layer's
errors (``service_layer/errors.py``) and the domain errors that constraints stand for.

- serialization failure (40001), deadlock (40P01): ``TransientConflict``; the retry runner
  runs the whole use case again, up to 5 times; still failing: 503 + Retry-After.
- no pooled connection within the pool timeout: ``DatabaseUnavailable``; 503 + Retry-After.
- connection refused or lost, server shutting down or starting, out of connections or
  resources, or refusing our credentials or database (08xxx, 57P01-57P03, 53xxx, 28xxx,
  3D000, or a driver error that never reached the server):
  ``DatabaseUnavailable``; not retried; 503 + Retry-After.
- SQLite "database is locked" after the busy timeout: ``DatabaseUnavailable``; 503.
- a unique violation on a known constraint: the domain error it stands for; 409.
- anything else: not translated; a 500 (a bug to fix, never a client error).

Why connection loss is not retried: if the connection died during COMMIT, the outcome is
unknown, and running a purchase again could buy twice. A transient conflict, by contrast, is
a guaranteed rollback, so running the whole unit again is always safe.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from adapters.database_metrics import POOL_TIMEOUTS
from domain.errors import (
    DomainError,
    DuplicateSku,
    EmailTaken,
    IdempotencyKeyTaken,
    ImportBatchTaken,
)
from service_layer.errors import DatabaseUnavailable, TransientConflict

# PostgreSQL SQLSTATEs: the server gave up on this transaction to let another one through.
TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})
# The server is going away or not there yet (admin_shutdown, crash_shutdown, cannot_connect_now),
# or refuses us whatever the request: no such database (3D000) for our credentials.
UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "3D000"})
# Whole classes: 08 connection exception, 28 invalid authorization (a wrong password or role
# is the operator's to fix, never the client's), 53 insufficient resources (too many
# connections, out of memory, disk full).
UNAVAILABLE_SQLSTATE_CLASSES = ("08", "28", "53")

# Constraint name (from adapters.orm's naming convention) -> the domain error it stands for.
UNIQUE_VIOLATIONS: dict[str, type[DomainError]] = {
    "uq_items_sku": DuplicateSku,
    "uq_users_email": EmailTaken,
    "pk_idempotency_keys": IdempotencyKeyTaken,
    "pk_import_batches": ImportBatchTaken,
}
# SQLite reports columns, not constraint names: "UNIQUE constraint failed: items.sku".
_SQLITE_COLUMNS = {
    "items.sku": "uq_items_sku",
    "users.email": "uq_users_email",
    "idempotency_keys.customer_id, idempotency_keys.key": "pk_idempotency_keys",
    "import_batches.file_digest, import_batches.first_line": "pk_import_batches",
}


def classify(error: BaseException) -> Exception | None:
    """The exception to raise instead of ``error``, or ``None`` to let ``error`` through.

    ``None`` for anything that is not a driver or pool error, including an error classified
    already, so classifying twice changes nothing.
    """
    if isinstance(error, IntegrityError):
        name = constraint_name(error)
        return UNIQUE_VIOLATIONS[name]() if name in UNIQUE_VIOLATIONS else None
    if isinstance(error, PoolTimeout):
        POOL_TIMEOUTS.inc()
        return DatabaseUnavailable("no database connection became free in time")
    if isinstance(error, DBAPIError):
        code = _sqlstate(error)
        if code in TRANSIENT_SQLSTATES:
            return TransientConflict(str(error.orig))
        if (
            error.connection_invalidated
            or code in UNAVAILABLE_SQLSTATES
            or (code or "").startswith(UNAVAILABLE_SQLSTATE_CLASSES)
            or _never_reached_the_server(error)
            or _is_sqlite_lock_timeout(error)
        ):
            return DatabaseUnavailable(_first_line(error))
        return None
    if isinstance(error, OSError | ConnectionError):
        # Raised by the driver while connecting (refused, reset, DNS): nothing was sent.
        return DatabaseUnavailable(f"cannot connect to the database: {error}")
    return None


def constraint_name(error: IntegrityError) -> str | None:
    driver_error = error.orig
    # asyncpg's exception is chained behind SQLAlchemy's adapted DBAPI error; psycopg keeps
    # the server's fields in ``diag``.
    for candidate in (driver_error, getattr(driver_error, "__cause__", None)):
        for source in (candidate, getattr(candidate, "diag", None)):
            name = getattr(source, "constraint_name", None)
            if isinstance(name, str):
                return name
    message = str(driver_error)
    for column, name in _SQLITE_COLUMNS.items():
        if f"UNIQUE constraint failed: {column}" in message:
            return name
    return None


def _sqlstate(error: DBAPIError) -> str | None:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _never_reached_the_server(error: DBAPIError) -> bool:
    """A PostgreSQL driver's error without a SQLSTATE did not come from the server: the client
    could not talk to it (psycopg's "connection failed: ... Connection refused", a reset).
    PostgreSQL drivers always carry the attribute, ``None`` in that case; SQLite's errors
    have none at all, so they never match."""
    return isinstance(error, OperationalError) and getattr(error.orig, "sqlstate", "") is None


def _is_sqlite_lock_timeout(error: DBAPIError) -> bool:
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)


def _first_line(error: DBAPIError) -> str:
    return str(error.orig).splitlines()[0] if error.orig is not None else type(error).__name__
