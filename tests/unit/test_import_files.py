"""Reading a catalog file as records: line numbers, a BOM, blank lines, cells that do not fit
the header, and a reader abandoned half-way."""

from __future__ import annotations

import gc
import io
import warnings
from pathlib import Path

import pytest

from entrypoints.cli.import_files import UnreadableFile, read_source
from entrypoints.cli.item_files import FileFormat


def records(data: bytes, file_format: FileFormat = FileFormat.CSV) -> list[tuple[int, object]]:
    return [
        (line.line, line.error or dict(line.fields))
        for line in read_source(io.BytesIO(data), file_format)
    ]


def test_csv_lines_are_numbered_where_each_record_begins() -> None:
    data = (
        b"\xef\xbb\xbfsku,title,price\r\n"  # a BOM, as spreadsheets write it
        b'A-1,"two\nlines",1.00\r\n'
        b"\r\n"  # blank: skipped
        b"A-2,Cup,2.00,extra\r\n"
        b"A-3,Bowl,3.00\r\n"
    )
    assert records(data) == [
        (2, {"sku": "A-1", "title": "two\nlines", "price": "1.00"}),
        (5, "4 cells but the header names 3 columns"),
        (6, {"sku": "A-3", "title": "Bowl", "price": "3.00"}),
    ]


def test_a_bad_header_stops_the_file() -> None:
    with pytest.raises(UnreadableFile, match="missing column\\(s\\) price"):
        records(b"sku,title\nA-1,Cup\n")


def test_json_lines_keep_their_physical_numbers() -> None:
    data = b'{"sku": "J-1"}\n\n[1]\n{"sku": "J-2"}\n'
    assert records(data, FileFormat.JSONL) == [
        (1, {"sku": "J-1"}),
        (3, "not a JSON object"),
        (4, {"sku": "J-2"}),
    ]


def test_the_callers_stream_stays_open_and_readable() -> None:
    stream = io.BytesIO(b"sku,title,price\nA-1,Cup,1.00\n")
    assert len(list(read_source(stream, FileFormat.CSV))) == 1
    assert not stream.closed
    assert stream.tell() == len(stream.getvalue())


def test_a_reader_dropped_after_its_file_closed_says_nothing(tmp_path: Path) -> None:
    """Regression: a run that failed half-way closed the file, and the abandoned reader then
    printed "Exception ignored ... I/O operation on closed file" when it was collected."""
    path = tmp_path / "f.csv"
    path.write_bytes(b"sku,title,price\nA-1,Cup,1.00\nA-2,Bowl,2.00\n")
    with path.open("rb") as stream:
        reader = read_source(stream, FileFormat.CSV)
        next(reader)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unraisable exception would surface as a warning
        reader.close()
        del reader
        gc.collect()


def test_an_unclosed_quote_is_not_valid_csv_and_padding_is_ignored() -> None:
    assert records(b'sku,title,price\nA-1,Cup,1.00,,\nA-2,"Bowl,2.00\nA-3,Mug,3.00\n') == [
        (2, {"sku": "A-1", "title": "Cup", "price": "1.00"}),
        (3, "not valid CSV: unexpected end of data"),
    ]


def test_json_nested_too_deeply_is_a_rejected_line() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert records(deep + b"\n", FileFormat.JSONL) == [(1, "not valid JSON: nested too deeply")]
