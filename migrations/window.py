"""The compatible window: which code may serve the schema a database is at.

Every migration declares ``served_from``, the oldest code revision that can serve the schema
it leaves (``migrations/script.py.mako`` says how to choose it). Code older than a migration
does not have its script, so the declaration travels with the schema: each step of an
upgrade writes it beside the version, in the ``served_from`` column of Alembic's own version
table (added by ``0008_schema_window``), in the transaction that moves the version.

Code then serves its own head, or a newer schema whose recorded ``served_from`` is a
revision it knows (an expand migration it predates); never a schema behind its head (it
would read what is not there yet), nor a newer one outside the window (a contract).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from typing import Any

from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

VERSION_TABLE = "alembic_version"
COLUMN = "served_from"

_READ = text("SELECT served_from FROM alembic_version WHERE version_num = :revision")
_WRITE = text("UPDATE alembic_version SET served_from = :served_from WHERE version_num = :revision")


@dataclass(frozen=True)
class SchemaVersion:
    """Where a database's schema is (``None``: not migrated), and the oldest code that may
    serve it (``None``: not recorded, as before ``0008_schema_window``)."""

    revision: str | None
    served_from: str | None = None


class Fit(Enum):
    """How a database's schema fits the code that looks at it."""

    AT_HEAD = "at head"
    IN_WINDOW = "newer, inside the window"  # served
    BEHIND = "behind"  # not served: run `stockroom db upgrade`
    NEWER = "newer, outside the window"  # not served: deploy the release that migrated it


def fit(schema: SchemaVersion, head: str | None, known: Collection[str]) -> Fit:
    """``known``: every revision of the code, its head and all before it."""
    if schema.revision == head:
        return Fit.AT_HEAD
    if schema.revision is None or schema.revision in known:
        return Fit.BEHIND
    if schema.served_from in known:
        return Fit.IN_WINDOW
    return Fit.NEWER


def in_window(schema: SchemaVersion, head: str | None) -> str:
    return (
        f"database schema is at {schema.revision}, newer than this code (at {head}) but inside "
        f"its compatible window (served from {schema.served_from})"
    )


def outside_window(schema: SchemaVersion, head: str | None) -> str:
    needs = (
        f"it needs code at {schema.served_from} or later"
        if schema.served_from is not None
        else "it declares no compatible window"
    )
    return (
        f"database schema is at {schema.revision}, newer than this code (at {head}) can serve: "
        f"{needs}; deploy the release that migrated it"
    )


def declared(script: Script) -> str:
    """What a migration declares; one that declares nothing is served by itself only."""
    served_from = getattr(script.module, "served_from", None)
    return served_from if isinstance(served_from, str) else script.revision


def record(*, ctx: MigrationContext, step: MigrationInfo, heads: set[str], **_: Any) -> None:
    """Alembic's ``on_version_apply`` hook: after each step (upgrade or downgrade), in its
    transaction, the declaration of the revision arrived at. Nothing where the column is not
    there (below ``0008_schema_window``)."""
    connection = ctx.connection
    if connection is None or ctx.as_sql or not _has_column(connection):
        return
    for head in heads:
        script = step.revision_map.get_revision(head)
        if isinstance(script, Script):  # always: Alembic's map of a script directory
            connection.execute(_WRITE, {"served_from": declared(script), "revision": head})


def read(connection: Connection) -> SchemaVersion:
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision is None or not _has_column(connection):
        return SchemaVersion(revision)
    return SchemaVersion(revision, connection.scalar(_READ, {"revision": revision}))


def _has_column(connection: Connection) -> bool:
    return any(
        column["name"] == COLUMN for column in inspect(connection).get_columns(VERSION_TABLE)
    )
