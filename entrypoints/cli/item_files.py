"""Catalog files: the one layout ``stockroom items export`` writes and ``items import`` reads.

Two formats, the same columns in the same order (``COLUMNS``):

- CSV: a header row, then one row per item; the price as plain decimal text with two places
  ("12.50"), a missing description as an empty cell. Lines end in ``\\n`` (Python's csv
  reader, spreadsheets and ``wc -l`` all take it).
- JSONL: one JSON object per line; the price a string ("12.50") so no reader turns it into a
  binary float, the quantity a number, the description a string or null.

Values are written as stored: nothing is escaped for spreadsheets (a title starting with "="
stays one), since the file exists to come back in through the importer unchanged.
"""

from __future__ import annotations

import csv
import json
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


def csv_row(view: ItemView) -> tuple[str, str, str, int, str]:
    return (view.sku, view.title, f"{view.price:.2f}", view.quantity, view.description or "")


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
