"""Reading a catalog file as a stream of ``SourceLine``s, and writing its rejects.

CSV (a header row naming the columns) and JSON Lines (one object per line), in UTF-8, a BOM
allowed. Read line by line from a binary file, so the bytes read so far are known (the
progress bar's ETA comes from the file's size) and memory stays flat whatever the size.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, TextIO

from domain.catalog_import import FIELDS, REQUIRED_FIELDS
from entrypoints.cli.item_files import (
    EXTENSIONS,
    TEXT_COLUMNS,
    FileFormat,
    as_exported,
    spreadsheet_safe,
)
from service_layer.services.import_lines import Rejected, SourceLine

REJECT_COLUMNS = ("line", "reason", "row")


class UnreadableFile(Exception):
    """The file as a whole cannot be imported (unknown format, bad header): one line, exit 1."""


def detect_format(path: Path, forced: FileFormat | None) -> FileFormat:
    if forced is not None:
        return forced
    try:
        return EXTENSIONS[path.suffix.lower()]
    except KeyError:
        known = ", ".join(EXTENSIONS)
        raise UnreadableFile(
            f"cannot tell the format of {path.name} from its extension ({known}); use --format"
        ) from None


def file_digest(path: Path) -> str:
    """SHA-256 of the file: what identifies "the same file" to a re-run."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_source(stream: BinaryIO, file_format: FileFormat) -> Iterator[SourceLine]:
    """The records of a binary file. Decoded by ``io.TextIOWrapper`` (the csv module then
    iterates at C speed); undecodable bytes become lone surrogates (``surrogateescape``),
    which the domain refuses as "not valid Unicode text" in the row that holds them, instead
    of the whole file failing. ``stream.tell()`` says how far the reading has got."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        if file_format is FileFormat.CSV:
            yield from _read_csv(text)
        else:
            yield from _read_jsonl(text)
    finally:
        # The caller's stream stays open (and its position readable). Unless the caller has
        # closed it already: a run that failed half-way drops this generator later.
        if not stream.closed:
            text.detach()


def _read_csv(text: TextIO) -> Iterator[SourceLine]:
    # strict: an unclosed quote is "not valid CSV", not the rest of the file in one cell.
    reader = csv.reader(text, strict=True)
    header = _header(next(reader, None))
    while True:
        first_line = reader.line_num + 1  # a quoted cell may span lines: where it began
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield SourceLine(first_line, {}, "", error=f"not valid CSV: {error}")
            continue
        if not cells or cells == [""]:
            continue  # a blank line
        if len(cells) > len(header) and not any(cells[len(header) :]):
            cells = cells[: len(header)]  # a spreadsheet's padding: empty cells past the header
        if len(cells) > len(header):
            too_many = f"{len(cells)} cells but the header names {len(header)} columns"
            yield SourceLine(first_line, {}, _csv_text(cells), error=too_many)
            continue
        fields = {
            name: as_exported(cell) if name in TEXT_COLUMNS else cell
            for name, cell in zip(header, cells, strict=False)
        }
        yield SourceLine(first_line, fields, functools.partial(_csv_text, cells))


def _header(cells: list[str] | None) -> list[str]:
    if cells is None:
        raise UnreadableFile("the file is empty: a CSV import needs a header row")
    header = [cell.strip().lower() for cell in cells]
    unknown = [name for name in header if name not in FIELDS]
    missing = [name for name in REQUIRED_FIELDS if name not in header]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}")
    if duplicated:
        problems.append(f"repeated column(s) {', '.join(duplicated)}")
    if problems:
        expected = ",".join(FIELDS)
        raise UnreadableFile(f"bad header: {'; '.join(problems)} (expected {expected})")
    return header


def _csv_text(cells: list[str]) -> str:
    line = _OneLine()
    csv.writer(line, lineterminator="").writerow(cells)
    return line.text


class _OneLine:
    text = ""

    def write(self, text: str) -> int:
        self.text += text
        return len(text)


def _read_jsonl(text: TextIO) -> Iterator[SourceLine]:
    for number, line in enumerate(text, start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else error
            yield SourceLine(number, {}, line, error=f"not valid JSON: {reason}")
            continue
        if not isinstance(value, dict):
            yield SourceLine(number, {}, line, error="not a JSON object")
            continue
        yield SourceLine(number, value, line)


class RejectsFile:
    """``line,reason,row`` rows, written as rejects happen; created at the first one, so a
    clean run leaves no file (and a stale one from an earlier run is removed at the start)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._stream: TextIO | None = None
        self._writer: csv.DictWriter[str] | None = None
        path.unlink(missing_ok=True)

    def __call__(self, rejected: Rejected) -> None:
        if self._writer is None:
            # surrogateescape: a row that was not UTF-8 is written back byte for byte.
            self._stream = self.path.open(
                "w", newline="", encoding="utf-8", errors="surrogateescape"
            )
            self._writer = csv.DictWriter(self._stream, REJECT_COLUMNS)
            self._writer.writeheader()
        # Opened in a spreadsheet to be fixed: the rejected row and the reason (which may quote
        # it) never run there as formulas.
        self._writer.writerow(
            {
                "line": rejected.line,
                "reason": spreadsheet_safe(rejected.reason),
                "row": spreadsheet_safe(rejected.text),
            }
        )
        self.count += 1

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
