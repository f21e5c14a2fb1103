"""``stockroom items export`` on the fakes: formats, files replaced whole or not at all."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from dependency_injector import providers

from entrypoints.container import Container
from service_layer.errors import DatabaseUnavailable
from service_layer.views import ItemView
from tests.fakes import InMemoryReads, InMemoryStore
from tests.unit.cli_support import Run
from tests.unit.health_support import StandInDatabase
from tests.unit.support import seed

HEADER = "sku,title,price,quantity,description"


@pytest.fixture
def catalog(store: InMemoryStore) -> list[list[str]]:
    """Two items as their CSV rows: one without a description, one whose text needs quoting."""
    asyncio.run(
        seed(store, sku="E-1", title="Nuts", price=Decimal("12.5"), quantity=3, description=None)
    )
    asyncio.run(
        seed(
            store,
            sku="E-2",
            title='Bolts, "large"',
            price=Decimal("0"),
            quantity=0,
            description="two\nlines",
        )
    )
    return [["E-1", "Nuts", "12.50", "3", ""], ["E-2", 'Bolts, "large"', "0.00", "0", "two\nlines"]]


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def jsonl_rows(text: str) -> list[list[str]]:
    """JSONL records as CSV-like rows, after checking the types the format promises."""
    rows = []
    for line in text.splitlines():
        record = json.loads(line)
        assert list(record) == HEADER.split(",")
        assert isinstance(record["price"], str)
        assert isinstance(record["quantity"], int)
        description = record["description"]
        rows.append([*(str(record[key]) for key in ("sku", "title", "price", "quantity"))])
        rows[-1].append("" if description is None else description)
    return rows


def test_export_writes_csv_to_stdout_by_default(run: Run, catalog: list[list[str]]) -> None:
    result = run("items", "export")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(HEADER + "\n")
    assert csv_rows(result.stdout) == [HEADER.split(","), *catalog]


def test_export_as_jsonl_keeps_null_descriptions_and_exact_prices(
    run: Run, catalog: list[list[str]]
) -> None:
    result = run("items", "export", "--format", "jsonl", "-o", "-")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["description"] is None
    assert json.loads(result.stdout.splitlines()[0])["price"] == "12.50"
    assert jsonl_rows(result.stdout) == catalog


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("items.csv", (), "csv"),
        ("items.jsonl", (), "jsonl"),
        ("items.NDJSON", (), "jsonl"),
        ("items.txt", (), "csv"),
        ("items.jsonl", ("--format", "csv"), "csv"),
        ("items.csv", ("--format", "JSONL"), "jsonl"),
    ],
)
def test_export_to_a_file_takes_the_format_from_the_option_else_the_extension(
    run: Run,
    catalog: list[list[str]],
    tmp_path: Path,
    name: str,
    options: tuple[str, ...],
    expected: str,
) -> None:
    target = tmp_path / name

    result = run("items", "export", "-o", str(target), *options)

    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # the data went to the file only
    assert f"exported 2 items to {target}" in result.stderr
    text = target.read_text(encoding="utf-8")
    rows = csv_rows(text)[1:] if expected == "csv" else jsonl_rows(text)
    assert rows == catalog
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


def test_export_replaces_an_existing_file(
    run: Run, catalog: list[list[str]], tmp_path: Path
) -> None:
    target = tmp_path / "items.csv"
    target.write_text("old content that is longer than the new one\n" * 100)

    result = run("items", "export", "--output", str(target))

    assert result.exit_code == 0, result.output
    assert csv_rows(target.read_text(encoding="utf-8")) == [HEADER.split(","), *catalog]


def test_export_of_an_empty_catalog_is_a_header(run: Run) -> None:
    result = run("items", "export")

    assert result.exit_code == 0, result.output
    assert result.stdout == HEADER + "\n"


class PagedReads(InMemoryReads):
    """``total`` made-up items, served a page at a time, counting the pages asked for."""

    def __init__(self, total: int, fail_on_page: int | None = None) -> None:
        super().__init__(InMemoryStore())
        self.total, self.fail_on_page = total, fail_on_page
        self.pages: list[tuple[int | None, int]] = []

    async def items(
        self, *, skip: int = 0, limit: int = 100, after_id: int | None = None
    ) -> list[ItemView]:
        self.pages.append((after_id, limit))
        if len(self.pages) == self.fail_on_page:
            raise DatabaseUnavailable("the connection was lost")
        first = (after_id or 0) + 1
        return [
            ItemView(n, f"P-{n}", f"Item {n}", None, Decimal("1.50"), n % 7)
            for n in range(first, min(first + limit, self.total + 1))
        ]


def test_export_reads_the_catalog_page_by_page(run: Run, container: Container) -> None:
    reads = PagedReads(total=1_234)

    with container.reads.override(providers.Object(reads)):
        result = run("items", "export", "--format", "jsonl")

    assert result.exit_code == 0, result.output
    assert [json.loads(line)["sku"] for line in result.stdout.splitlines()] == [
        f"P-{n}" for n in range(1, 1_235)
    ]
    assert reads.pages == [(None, 500), (500, 500), (1_000, 500)]


def test_export_that_fails_halfway_leaves_the_file_as_it_was(
    run: Run, container: Container, database: StandInDatabase, tmp_path: Path
) -> None:
    target = tmp_path / "items.csv"
    target.write_text("yesterday's export\n")

    with container.reads.override(providers.Object(PagedReads(total=1_234, fail_on_page=2))):
        result = run("items", "export", "-o", str(target))

    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "cannot reach the database" in result.stderr
    assert target.read_text() == "yesterday's export\n"
    assert [path.name for path in tmp_path.iterdir()] == ["items.csv"]  # no temporary left
    assert database.disposals == 1


def test_export_to_a_folder_that_does_not_exist_is_one_line_and_writes_nothing(
    run: Run, catalog: list[list[str]], tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "items.csv"

    result = run("items", "export", "-o", str(target))

    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: cannot write {target}: No such file or directory"
    assert list(tmp_path.iterdir()) == []


def test_export_onto_a_folder_is_one_line_and_leaves_no_temporary_file(
    run: Run, catalog: list[list[str]], tmp_path: Path
) -> None:
    target = tmp_path / "a folder"
    target.mkdir()

    result = run("items", "export", "-o", str(target))

    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: cannot write {target}: Is a directory"
    assert [path.name for path in tmp_path.iterdir()] == ["a folder"]
    assert list(target.iterdir()) == []


def test_export_with_an_unknown_format_is_a_usage_error_and_writes_nothing(
    run: Run, catalog: list[list[str]], tmp_path: Path
) -> None:
    target = tmp_path / "items.xml"

    result = run("items", "export", "--format", "xml", "-o", str(target))

    assert result.exit_code == 2
    assert "Invalid value for '--format'" in result.stderr
    assert "'xml' is not one of 'csv', 'jsonl'" in result.stderr
    assert list(tmp_path.iterdir()) == []
