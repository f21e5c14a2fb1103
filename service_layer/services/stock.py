"""Stock use cases that only read: what is on the shelf, lowest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from service_layer.reads import AbstractReads
from service_layer.use_cases import use_case
from service_layer.views import ItemView

MAX_REPORT_ROWS: Final = 1_000


@dataclass(frozen=True, slots=True)
class StockReport:
    items: tuple[ItemView, ...]
    more: bool  # items beyond the limit also match: the report is not the whole picture


@use_case
async def stock_report(
    reads: AbstractReads, *, below: int | None = None, limit: int = 100
) -> StockReport:
    """The items with the least stock, lowest first; with ``below``, only those with fewer
    than ``below`` units. One bounded statement: a large catalog is never loaded whole.

    ``below`` is strict, as the word says; the low-stock alert's rule
    (``domain.item.is_running_low``: ``threshold`` or fewer) is ``below=threshold + 1``.
    """
    limit = max(1, min(limit, MAX_REPORT_ROWS))
    # One more than asked for: whether there is more to see, without a COUNT over the table.
    found = await reads.items_by_stock(below=below, limit=limit + 1)
    return StockReport(items=tuple(found[:limit]), more=len(found) > limit)
