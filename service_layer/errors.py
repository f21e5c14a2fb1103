"""Failures of the infrastructure, as the service layer reports them (see ``failures.py``
for how database errors are classified into these)."""

from __future__ import annotations


class TransientConflict(Exception):
    """The database aborted the unit to resolve a conflict with another transaction
    (serialization failure, deadlock). Nothing was written; running the whole unit again,
    from the start, may succeed. See ``service_layer.retry``."""


class DatabaseUnavailable(Exception):
    """The database could not be reached, or dropped the connection mid-unit. Nothing of this
    unit is visible to anyone unless the failure struck during COMMIT itself."""
