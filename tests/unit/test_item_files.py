"""The catalog file layout ``items export`` writes (and ``items import`` will read)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TextIO

import pytest

from entrypoints.cli.item_files import COLUMNS, write_csv, write_jsonl
from service_layer.views import ItemView

Writer = Callable[[AsyncIterator[ItemView], TextIO], Awaitable[int]]

VIEWS = (
    ItemView(1, "A-1", 'Bolts, "large"', None, Decimal("12.5"), 3),
    ItemView(2, "B-2", "Nuts", "two\nlines, é", Decimal("0"), 0),
)


async def each(views: Sequence[ItemView]) -> AsyncIterator[ItemView]:
    for view in views:
        yield view


def test_the_columns_are_the_ones_shared_with_the_importer() -> None:
    assert COLUMNS == ("sku", "title", "price", "quantity", "description")


async def test_csv_has_a_header_then_one_row_per_item_that_reads_back() -> None:
    stream = io.StringIO(newline="")

    count = await write_csv(each(VIEWS), stream)

    assert count == 2
    assert stream.getvalue().startswith(
        'sku,title,price,quantity,description\nA-1,"Bolts, ""large""",12.50,3,\n'
    )
    assert list(csv.reader(io.StringIO(stream.getvalue(), newline=""))) == [
        list(COLUMNS),
        ["A-1", 'Bolts, "large"', "12.50", "3", ""],
        ["B-2", "Nuts", "0.00", "0", "two\nlines, é"],
    ]


async def test_jsonl_is_one_object_per_line_with_exact_prices() -> None:
    stream = io.StringIO()

    count = await write_jsonl(each(VIEWS), stream)

    assert count == 2
    lines = stream.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [
        {
            "sku": "A-1",
            "title": 'Bolts, "large"',
            "price": "12.50",
            "quantity": 3,
            "description": None,
        },
        {
            "sku": "B-2",
            "title": "Nuts",
            "price": "0.00",
            "quantity": 0,
            "description": "two\nlines, é",
        },
    ]
    assert all(list(json.loads(line)) == list(COLUMNS) for line in lines)


async def test_an_empty_catalog_is_a_header_only_csv_and_an_empty_jsonl() -> None:
    csv_stream, jsonl_stream = io.StringIO(), io.StringIO()

    assert await write_csv(each(()), csv_stream) == 0
    assert await write_jsonl(each(()), jsonl_stream) == 0

    assert csv_stream.getvalue() == "sku,title,price,quantity,description\n"
    assert jsonl_stream.getvalue() == ""


@pytest.mark.parametrize(("writer", "header_lines"), [(write_csv, 1), (write_jsonl, 0)])
async def test_each_item_is_written_before_the_next_is_asked_for(
    writer: Writer, header_lines: int
) -> None:
    """What keeps an export's memory flat: nothing is collected before it is written."""
    stream = io.StringIO()
    lines_written_before: list[int] = []

    async def watched() -> AsyncIterator[ItemView]:
        for number in range(1, 6):
            lines_written_before.append(stream.getvalue().count("\n"))
            yield ItemView(number, f"S-{number}", "One line", None, Decimal("1"), number)

    assert await writer(watched(), stream) == 5
    assert lines_written_before == [header_lines + n for n in range(5)]
