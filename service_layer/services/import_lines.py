"""What a catalog import reads and reports, and the driver's bookkeeping between batches
(``services.catalog_import``): plain data, no storage."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from time import monotonic

from domain.catalog_import import (
    CatalogRow,
    ImportedBatch,
    RowOutcome,
    StockMode,
    combine,
)
from domain.events import ItemsImported


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One record of the input: its line number, its fields, and its text for the rejects
    file, or a function that makes that text (only a rejected row needs it, and rebuilding
    a CSV row's text costs as much as checking it). ``error`` is set when the record could
    not even be read as fields (bad JSON, more cells than the header)."""

    line: int
    fields: Mapping[str, object]
    raw_text: str | Callable[[], str]
    error: str | None = None

    @property
    def text(self) -> str:
        return self.raw_text if isinstance(self.raw_text, str) else self.raw_text()


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    text: str
    reason: str


@dataclass(slots=True)
class BatchResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(slots=True)
class ImportSummary:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    skipped: int = 0  # applied by an earlier run of the same file
    batches: int = 0
    started: float = field(default_factory=monotonic)
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def add(self, result: BatchResult) -> None:
        self.created += result.created
        self.updated += result.updated
        self.unchanged += result.unchanged
        self.rejected += len(result.rejected)
        self.batches += 1


class Cover:
    """Whether a line lies in one of ``batches`` (sorted by first line), asked in rising line
    order: one pass over the batches for the whole file."""

    def __init__(self, batches: Sequence[ImportedBatch]) -> None:
        self._batches, self._next = batches, 0

    def __call__(self, line: int) -> bool:
        while self._next < len(self._batches) and self._batches[self._next].last_line < line:
            self._next += 1
        return self._next < len(self._batches) and self._batches[self._next].covers(line)


@dataclass(slots=True)
class Batch:
    """The rows waiting to be applied, and the span of lines they stand for (rejected lines
    between them included, so a re-run skips the whole span)."""

    rows: list[CatalogRow] = field(default_factory=list)
    sources: dict[int, SourceLine] = field(default_factory=dict)
    first_line: int | None = None
    last_line: int = 0

    def spans(self, line: int) -> None:
        if self.first_line is None:
            self.first_line = line
        self.last_line = line

    def clear(self) -> None:
        self.rows, self.sources, self.first_line, self.last_line = [], {}, None, 0


@dataclass(slots=True)
class BatchChanges:
    """What a batch's rows do to the items they name, as row values: ``combine`` folds each
    row into the item's stored values (or into the row that creates it), so one batch writes
    each item once, whatever number of rows name it."""

    stored: dict[str, tuple[int, CatalogRow]]
    changed: dict[str, CatalogRow] = field(default_factory=dict)
    new: dict[str, CatalogRow] = field(default_factory=dict)

    def apply(self, row: CatalogRow, mode: StockMode) -> RowOutcome:
        if row.sku in self.stored:
            before = self.changed.get(row.sku) or self.stored[row.sku][1]
            after = combine(before, row, mode)
            if _values(after) == _values(before):
                return RowOutcome.UNCHANGED
            self.changed[row.sku] = after
            return RowOutcome.UPDATED
        earlier = self.new.get(row.sku)
        if earlier is None:
            self.new[row.sku] = row
            return RowOutcome.CREATED
        self.new[row.sku] = after = combine(earlier, row, mode)
        return RowOutcome.UNCHANGED if _values(after) == _values(earlier) else RowOutcome.UPDATED

    def changed_rows(self) -> dict[int, CatalogRow]:
        return {self.stored[sku][0]: row for sku, row in self.changed.items()}

    def event(self) -> ItemsImported | None:
        """What the batch did, for the outbox (``None``: it changed nothing)."""
        if not self.new and not self.changed:
            return None
        return ItemsImported(created=tuple(sorted(self.new)), updated=tuple(sorted(self.changed)))


def _values(row: CatalogRow) -> tuple[object, ...]:
    return (row.title, row.price, row.quantity, row.description)
