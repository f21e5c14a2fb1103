"""Import a catalog file: one unit of work per batch of rows, upserting by SKU, resumable.

Why batches, each its own unit: one transaction for 100,000 rows holds its locks for the
whole run (an embedded database has one write lock: nobody else writes meanwhile) and loses
everything on a crash at row 99,999; one per row pays a commit per row. A batch is short
enough to let customers buy between batches and large enough that commits stop dominating
(the default size is measured: bench/README.md, "Import").

Each batch locks the items it touches with ``lock_rows_by_skus``: the rows an order's
``lock_by_skus`` locks, in the same id order, so an import and a purchase over the same items
wait for each other but never deadlock. A purchase that commits during the import is never
overwritten by a stale copy (``add`` mode adds to the stock the lock returned).

Rows, not ``Item`` objects: a batch reads the stored values, folds each row into them with the
domain's ``combine``, and writes every changed item with one UPDATE executemany and every new
one with one INSERT executemany. An ``Item`` is an ORM-mapped object, and building, tracking
and flushing one per row cost more than the database's work for it (bench/README.md, "Import",
measured both ways). The API, which changes a few items per request, keeps the aggregates.

The caller streams ``SourceLine``s in (from a file, a generator, anything); nothing here holds
more than one batch, so memory stays flat whatever the file's size.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from time import monotonic

from domain.catalog_import import (
    Catalog,
    CatalogRow,
    ImportedBatch,
    RowOutcome,
    StockMode,
    parse_row,
)
from domain.errors import DomainError, DuplicateSku, ImportModeConflict
from service_layer.retry import retry_transient
from service_layer.services.import_lines import (
    Batch,
    BatchChanges,
    BatchResult,
    Cover,
    ImportSummary,
    Rejected,
    SourceLine,
)
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case

# A batch looks its SKUs up in one statement, one bound parameter each, and drivers cap the
# parameters of a statement (32,767 for some); a bigger batch only holds its locks longer.
MAX_BATCH_SIZE = 10_000
# A new SKU another writer created between our lock and our commit fails the batch on the
# unique constraint; run again, the batch finds that item and updates it instead.
DUPLICATE_SKU_ATTEMPTS = 3


@use_case
@retry_transient()
async def import_batch(
    uow: AbstractUnitOfWork,
    rows: Sequence[CatalogRow],
    mode: StockMode,
    *,
    sources: Mapping[int, SourceLine] | None = None,
    record: ImportedBatch | None = None,
    refresh_statistics: bool = False,
) -> BatchResult:
    """Apply ``rows`` in one unit of work, and ``record`` the batch in the same commit.

    A row the item refuses (added stock above the maximum) is rejected, not fatal: the item
    is left as it was, and the rest of the batch goes in. ``sources`` (by line) only feed
    the rejects. ``refresh_statistics``: a batch that created items then tells the query
    planner how big the table has grown (see ``import_catalog``).
    """
    result = BatchResult()
    async with uow:
        # The order path's own locks, in its order (id order): the existing items' rows.
        locked = await uow.catalog_rows.lock_rows_by_skus([row.sku for row in rows])
        batch = BatchChanges(stored={stored.sku: (item_id, stored) for item_id, stored in locked})
        for row in rows:
            try:
                outcome = batch.apply(row, mode)
            except DomainError as refused:
                source = (sources or {}).get(row.line)
                text = source.text if source is not None else ""
                result.rejected.append(Rejected(row.line, text, str(refused)))
                continue
            if outcome is RowOutcome.CREATED:
                result.created += 1
            elif outcome is RowOutcome.UPDATED:
                result.updated += 1
            else:
                result.unchanged += 1
        await uow.catalog_rows.update_rows(batch.changed_rows())
        # In SKU order: two imports inserting the same new SKUs wait, never deadlock.
        await uow.catalog_rows.add_rows(sorted(batch.new.values(), key=lambda row: row.sku))
        if (imported := batch.event()) is not None:  # committed with the batch, or not at all
            catalog = Catalog()
            catalog.events.append(imported)
            uow.catalog_rows.record(catalog)
        if refresh_statistics and batch.new:
            await uow.catalog_rows.refresh_statistics()
        if record is not None:
            # Rows the items refused were not applied: a re-run tries them again.
            for part in record.without(rejected.line for rejected in result.rejected):
                await uow.imports.add(part)
        await uow.commit()
    return result


@use_case
async def earlier_batches(
    uow: AbstractUnitOfWork, file_digest: str, mode: StockMode, *, again: bool
) -> list[ImportedBatch]:
    """What earlier runs of this file committed (nothing, and forgotten, when ``again``)."""
    if again:
        async with uow:
            await uow.imports.forget(file_digest)
            await uow.commit()
            return []
    async with uow.reading():
        batches = list(await uow.imports.batches(file_digest))
    modes = {batch.mode for batch in batches}
    if modes and modes != {mode}:
        raise ImportModeConflict(next(iter(modes - {mode})).value, mode.value)
    return batches


async def import_catalog(
    new_uow: Callable[[], AbstractUnitOfWork],
    source: Iterable[SourceLine],
    *,
    mode: StockMode = StockMode.SET,
    batch_size: int = 1000,
    file_digest: str | None = None,
    again: bool = False,
    on_reject: Callable[[Rejected], None] = lambda _: None,
    on_batch: Callable[[ImportSummary], None] = lambda _: None,
) -> ImportSummary:
    """Import every line of ``source``: the driver a script calls, with a fresh unit of work
    per batch from ``new_uow``.

    With a ``file_digest`` (the file's SHA-256), each batch is recorded with the lines it
    covered, and lines an earlier run of the same file committed are skipped, so a re-run
    after a crash finishes the job (``again``: forget the earlier runs, import it all). Rows
    that do not parse are rejected wherever they are, so every run reports all of them.
    """
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch_size must be 1 to {MAX_BATCH_SIZE}")
    done: list[ImportedBatch] = []
    if file_digest is not None:
        done = await earlier_batches(new_uow(), file_digest, mode, again=again)
    summary = ImportSummary()
    batch = Batch()
    covered_by_earlier = Cover(done)

    async def flush() -> None:
        record = None
        if file_digest is not None and batch.first_line is not None:
            record = ImportedBatch(
                file_digest, batch.first_line, batch.last_line, mode, datetime.now(UTC)
            )
        # A table filled from empty would keep the plans made when it was empty (a full scan
        # per lookup by SKU): statistics are refreshed after batches 1, 2, 4, 8, ... (each at
        # most doubles what came before), so a run pays for a handful, whatever its size.
        refresh = summary.batches & (summary.batches + 1) == 0
        result = await _import_batch_retrying_duplicates(new_uow, batch, mode, record, refresh)
        for rejected in result.rejected:
            on_reject(rejected)
        summary.add(result)
        summary.seconds = monotonic() - summary.started
        batch.clear()
        on_batch(summary)

    for line in source:
        summary.read += 1
        covered = covered_by_earlier(line.line)
        try:
            if line.error is not None:
                raise DomainError(line.error)
            row = parse_row(line.line, line.fields)
        except DomainError as refused:
            summary.rejected += 1
            on_reject(Rejected(line.line, line.text, str(refused)))
            continue
        finally:
            if not covered:
                batch.spans(line.line)
        if covered:
            summary.skipped += 1
            continue
        batch.rows.append(row)
        batch.sources[row.line] = line
        if len(batch.rows) >= batch_size:
            await flush()
    if batch.rows:
        await flush()
    summary.seconds = monotonic() - summary.started
    return summary


async def _import_batch_retrying_duplicates(
    new_uow: Callable[[], AbstractUnitOfWork],
    batch: Batch,
    mode: StockMode,
    record: ImportedBatch | None,
    refresh_statistics: bool,
) -> BatchResult:
    for attempt in range(1, DUPLICATE_SKU_ATTEMPTS + 1):
        try:
            return await import_batch(
                new_uow(),
                batch.rows,
                mode,
                sources=batch.sources,
                record=record,
                refresh_statistics=refresh_statistics,
            )
        except DuplicateSku:
            if attempt == DUPLICATE_SKU_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover
