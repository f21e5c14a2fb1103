"""Translate database constraint violations into the domain errors they stand for."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from domain.errors import DomainError, DuplicateSku, EmailTaken, IdempotencyKeyTaken

# Constraint name (from adapters.orm's naming convention) -> domain error factory.
_UNIQUE_VIOLATIONS: dict[str, type[DomainError]] = {
    "uq_items_sku": DuplicateSku,
    "uq_users_email": EmailTaken,
    "pk_idempotency_keys": IdempotencyKeyTaken,
}
# SQLite reports columns, not constraint names: "UNIQUE constraint failed: items.sku".
_SQLITE_COLUMNS = {
    "items.sku": "uq_items_sku",
    "users.email": "uq_users_email",
    "idempotency_keys.customer_id, idempotency_keys.key": "pk_idempotency_keys",
}


def constraint_name(error: IntegrityError) -> str | None:
    driver_error = error.orig
    # asyncpg's exception is chained behind SQLAlchemy's adapted DBAPI error.
    for candidate in (driver_error, getattr(driver_error, "__cause__", None)):
        name = getattr(candidate, "constraint_name", None)
        if isinstance(name, str):
            return name
    message = str(driver_error)
    for column, name in _SQLITE_COLUMNS.items():
        if f"UNIQUE constraint failed: {column}" in message:
            return name
    return None


def translate(error: IntegrityError) -> Exception:
    """The domain error for ``error``, or ``error`` itself when it means nothing to the domain."""
    name = constraint_name(error)
    if name in _UNIQUE_VIOLATIONS:
        return _UNIQUE_VIOLATIONS[name]()
    return error
