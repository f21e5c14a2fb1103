"""Issue 26 F8: a CSV cell a spreadsheet would run as a formula is exported with a quote
before it (OWASP, "CSV Injection": cells beginning with = + - @, a tab, a carriage return or a
line feed), and the importer takes that quote off, so an export imports back unchanged."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.cli.import_files import RejectsFile, read_source
from entrypoints.cli.item_files import FileFormat, as_exported, spreadsheet_safe
from service_layer.services.import_lines import Rejected
from tests.fakes import InMemoryStore
from tests.unit.cli_support import Run
from tests.unit.support import seed_one, snapshot

FORMULAS = ("=1+2", "+cmd", "-2+3", "@SUM(A1)", "\tindented", "\n=lead", "'=quoted before")


def csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture
def formulas(store: InMemoryStore) -> None:
    for n, formula in enumerate(FORMULAS):
        # Titles cannot begin with a tab or a line feed (they are stripped): descriptions can.
        title = formula if formula.strip() == formula else f"Item {n}"
        asyncio.run(
            seed_one(
                store,
                sku=f"F-{n}",
                title=title,
                price=Decimal("12.50"),
                quantity=n,
                description=formula,
            )
        )


@pytest.mark.usefixtures("formulas")
def test_export_prefixes_every_cell_a_spreadsheet_would_run(run: Run) -> None:
    result = run("items", "export")

    assert result.exit_code == 0, result.output
    _, *rows = csv_rows(result.stdout)
    for row, formula in zip(rows, FORMULAS, strict=True):
        _sku, title, price, quantity, description = row
        assert description == f"'{formula}"
        assert title == (f"'{formula}" if formula.strip() == formula else title)
        assert not title.startswith(("=", "+", "-", "@"))
        # Numbers stay numbers: never a quote before a price or a quantity.
        assert (price, quantity) == ("12.50", quantity)
        assert quantity.isdigit()


def test_ordinary_text_is_written_as_it_is() -> None:
    for text in ("Nuts", "x=1", "a-b", "", "'quoted", "O'Brien", "email@example.com"):
        assert spreadsheet_safe(text) == text


@given(st.text(st.sampled_from("'=+-@\t\r\nab"), max_size=6))
def test_the_importer_reads_back_exactly_what_the_exporter_had(text: str) -> None:
    assert as_exported(spreadsheet_safe(text)) == text
    assert not spreadsheet_safe(text).startswith(("=", "+", "-", "@", "\t", "\r", "\n"))


@pytest.mark.usefixtures("formulas")
def test_an_exported_catalog_imports_back_unchanged(
    run: Run, store: InMemoryStore, tmp_path: Path
) -> None:
    exported = tmp_path / "catalog.csv"
    assert run("items", "export", "-o", str(exported)).exit_code == 0
    before = snapshot(store)
    for item in store.items.values():
        item.title, item.description = "changed", "changed"

    result = run("items", "import", str(exported))

    assert result.exit_code == 0, result.output
    assert snapshot(store) == before


def test_the_quote_comes_off_text_columns_only() -> None:
    data = b"sku,title,price,quantity,description\nA-1,'=x,'-1,'7,'+y\n"
    (line,) = read_source(io.BytesIO(data), FileFormat.CSV)
    # A price or a quantity is a number: a quote before one is the file's mistake, refused.
    assert dict(line.fields) == {
        "sku": "A-1",
        "title": "=x",
        "price": "'-1",
        "quantity": "'7",
        "description": "+y",
    }


def test_the_rejects_file_is_safe_to_open_in_a_spreadsheet(tmp_path: Path) -> None:
    rejects = RejectsFile(tmp_path / "rejects.csv")
    rejects(Rejected(line=2, reason="-price must be a number", text='=HYPERLINK("x"),t,1'))
    rejects.close()

    _, (line, reason, row) = csv_rows((tmp_path / "rejects.csv").read_text())
    assert (line, reason, row) == ("2", "'-price must be a number", '\'=HYPERLINK("x"),t,1')
