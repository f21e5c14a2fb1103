"""Failures of the storage, as the service layer sees them.

Which driver errors become which of these is decided in one place,
``adapters/database_errors.py``; what a client is told, in ``entrypoints/api/errors.py``.
"""

from __future__ import annotations


class TransientConflict(Exception):
    """The database aborted the unit to resolve a conflict with another transaction
    (serialization failure, deadlock). Nothing was written; running the whole unit again,
    from the start, may succeed. See ``service_layer.retry``."""


class DatabaseUnavailable(Exception):
    """The database could not be reached, was too busy to answer in time, or dropped the
    connection mid-unit. Nothing of this unit is visible to anyone unless the failure struck
    during COMMIT itself. Not retried here: the client may retry (with an Idempotency-Key
    where it matters), since only it knows whether a repeat is safe."""


class MalformedReadPosition(ValueError):
    """A client sent a read position (the token a write returned) that no write returns."""

    def __init__(self, given: str) -> None:
        super().__init__(f"malformed read position {given[:40]!r}: send back what a write returned")


class Overloaded(Exception):
    """This process already does as much of some costly work (password hashing) as it can
    usefully do at once: refused at once, rather than queued behind the rest. The client may
    retry shortly; another process may have room now."""
