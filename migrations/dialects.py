"""Schema objects that exist on one database only, for autogenerate's comparison.

A model may declare what only PostgreSQL has (``ddl_if(dialect="postgresql")``: the GIN
trigram index of title search, migration 0010); Alembic's comparison does not read that
condition, so on SQLite it would report the index missing. ``include_object_for`` is the
``include_object`` hook that leaves such an object out where it does not exist: used by
``migrations/env.py`` and by the test that models and migrations agree.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Index
from sqlalchemy.sql.schema import SchemaItem

IncludeObject = Callable[[SchemaItem, str | None, str, bool, SchemaItem | None], bool]


def exists_on(dialect: str, item: SchemaItem) -> bool:
    """An index that names a PostgreSQL access method (``postgresql_using``) exists on
    PostgreSQL only; everything else everywhere."""
    if isinstance(item, Index) and item.dialect_options["postgresql"]["using"]:
        return dialect == "postgresql"
    return True


def include_object_for(dialect: str) -> IncludeObject:
    def include_object(
        item: SchemaItem,
        _name: str | None,
        _type: str,
        reflected: bool,
        _compare_to: SchemaItem | None,
    ) -> bool:
        return reflected or exists_on(dialect, item)

    return include_object
