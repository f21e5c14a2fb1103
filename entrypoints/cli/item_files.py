"""Catalog files: the one layout ``stockroom items export`` writes and ``items import`` reads.

Two formats, the same columns in the same order (``COLUMNS``):

- CSV: a header row, then one row per item; the price as plain decimal text with two places
  ("12.50"), a missing description as an empty cell. Lines end in ``\\n`` (Python's csv
  reader, spreadsheets and ``wc -l`` all take it).
- JSONL: one JSON object per line; the price a string ("12.50") so no reader turns it into a
  binary float, the quantity a number, the description a string or null.

A CSV text cell that a spreadsheet would run as a formula (one beginning with ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or a line feed: OWASP's "CSV Injection" list) is written
with a single quote before it, which spreadsheets show as text; the importer takes that quote
off again, so an export imports back unchanged (``spreadsheet_safe``, ``as_exported``). The
price and quantity are numbers and never get one. JSONL is no spreadsheet's format: written
as stored.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import AsyncIterable
from enum import StrEnum
from typing import Final, TextIO

from domain.catalog_import import FIELDS
from service_layer.views import ItemView

# What the importer reads (domain.catalog_import), in that order: an export imports as is.
COLUMNS: Final = FIELDS


class FileFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


EXTENSIONS: Final = {
    ".csv": FileFormat.CSV,
    ".jsonl": FileFormat.JSONL,
    ".ndjson": FileFormat.JSONL,
}


# What a spreadsheet takes for the start of a formula (OWASP, CSV Injection), after any number
# of quotes: one quote more is added on export and taken off on import, so that a value that
# itself begins with quotes before such a character comes back as it was.
_FORMULA_START = re.compile(r"'*[=+\-@\t\r\n]")
# The columns of text; the price and the quantity are numbers, and stay numbers.
TEXT_COLUMNS: Final = ("sku", "title", "description")


def spreadsheet_safe(cell: str) -> str:
    """``cell`` as a spreadsheet shows it but never runs it: a formula gets a quote before it."""
    return f"'{cell}" if _FORMULA_START.match(cell) else cell


def as_exported(cell: str) -> str:
    """A text cell of a CSV file as the exporter had it: the quote it added taken off."""
    return cell[1:] if cell.startswith("'") and _FORMULA_START.match(cell, 1) else cell


def csv_row(view: ItemView) -> tuple[str, str, str, int, str]:
    return (
        spreadsheet_safe(view.sku),
        spreadsheet_safe(view.title),
        f"{view.price:.2f}",
        view.quantity,
        spreadsheet_safe(view.description or ""),
    )


def json_record(view: ItemView) -> dict[str, str | int | None]:
    return {
        "sku": view.sku,
        "title": view.title,
        "price": f"{view.price:.2f}",
        "quantity": view.quantity,
        "description": view.description,
    }


async def write_csv(views: AsyncIterable[ItemView], stream: TextIO) -> int:
    """Write each view as it arrives (nothing is collected first); how many rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = 0
    async for view in views:
        writer.writerow(csv_row(view))
        count += 1
    return count


async def write_jsonl(views: AsyncIterable[ItemView], stream: TextIO) -> int:
    """Write each view as it arrives, one object per line; how many lines."""
    count = 0
    async for view in views:
        # ensure_ascii=False: a title stays readable text in the (UTF-8) file.
        stream.write(json.dumps(json_record(view), ensure_ascii=False) + "\n")
        count += 1
    return count
