"""Bulk loads as plain rows (``services.catalog_import``), and the journal of what each
import has committed: Core statements in the unit's session, no mapped objects."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, insert, select, text, update
from sqlalchemy.sql.dml import Update

from adapters.orm import import_batches, items
from adapters.repositories import SqlAlchemyRepository
from domain.catalog_import import CatalogRow, ImportedBatch
from service_layer.repositories import AbstractCatalogRows, AbstractImportJournal


@cache
def _locking_select_of_rows() -> Select[Any]:
    """The values of the items whose SKU is in the bound list, locked in id order (the order
    ``_locking_select`` locks in); built once."""
    return (
        select(items.c.id, items.c.sku, items.c.title, items.c.price_cents)
        .add_columns(items.c.quantity, items.c.description)
        .where(items.c.sku.in_(bindparam("values", expanding=True)))
        .order_by(items.c.id)
        .with_for_update()
    )


@cache
def _update_by_id() -> Update:
    return (
        update(items)
        .where(items.c.id == bindparam("item_id"))
        .values(
            title=bindparam("new_title"),
            price_cents=bindparam("new_price"),
            quantity=bindparam("new_quantity"),
            description=bindparam("new_description"),
        )
    )


class SqlAlchemyCatalogRows(SqlAlchemyRepository, AbstractCatalogRows):
    async def add_rows(self, rows: Sequence[CatalogRow]) -> None:
        if not rows:
            return
        # One executemany of a plain INSERT (no RETURNING): the driver sends the rows together.
        # The unit's own flush (session.add) would fetch each new id, and SQLite cannot return
        # ids in the rows' order, so SQLAlchemy would send one INSERT per item there.
        values = [
            {
                "sku": row.sku,
                "title": row.title,
                "description": row.description,
                "price_cents": row.price,
                "quantity": row.quantity or 0,
            }
            for row in rows
        ]
        await self._session.execute(insert(items), values)

    async def lock_rows_by_skus(self, skus: Sequence[str]) -> Sequence[tuple[int, CatalogRow]]:
        values = sorted(set(skus))
        found = await self._session.execute(_locking_select_of_rows(), {"values": values})
        return [
            (
                row.id,
                CatalogRow(
                    0,
                    row.sku,
                    row.title,
                    row.price_cents,
                    row.quantity,
                    row.description,
                    has_description=True,
                ),
            )
            for row in found
        ]

    async def update_rows(self, rows: Mapping[int, CatalogRow]) -> None:
        if not rows:
            return
        # One executemany: the driver sends every row's UPDATE together.
        values = [
            {
                "item_id": item_id,
                "new_title": row.title,
                "new_price": row.price,
                "new_quantity": row.quantity or 0,
                "new_description": row.description,
            }
            for item_id, row in rows.items()
        ]
        await self._session.execute(_update_by_id(), values)

    async def refresh_statistics(self) -> None:
        # PostgreSQL: a prepared statement (asyncpg prepares every query) switches to a generic
        # plan after five runs, planned with what the statistics said then. For a table that
        # was empty, that plan is a sequential scan, kept for the connection's life while the
        # table grows: every lookup by SKU then reads the whole table. ANALYZE updates the
        # statistics and invalidates such plans. SQLite plans each statement afresh.
        if self._session.get_bind().dialect.name == "postgresql":
            await self._session.execute(text("ANALYZE items"))


class SqlAlchemyImportJournal(SqlAlchemyRepository, AbstractImportJournal):
    async def batches(self, file_digest: str) -> Sequence[ImportedBatch]:
        statement = (
            select(import_batches)
            .where(import_batches.c.file_digest == file_digest)
            .order_by(import_batches.c.first_line)
        )
        rows = (await self._session.execute(statement)).mappings()
        return [ImportedBatch(**row) for row in rows]

    async def add(self, batch: ImportedBatch) -> None:
        await self._session.execute(
            insert(import_batches).values(
                file_digest=batch.file_digest,
                first_line=batch.first_line,
                last_line=batch.last_line,
                mode=batch.mode,
                committed_at=batch.committed_at,
            )
        )

    async def forget(self, file_digest: str) -> None:
        await self._session.execute(
            delete(import_batches).where(import_batches.c.file_digest == file_digest)
        )
