"""``stockroom items import`` as an operator runs it (a real process), on SQLite and PostgreSQL:
a 10,000-row file with 1% bad rows, a run killed half-way and run again, and a delivery
imported while customers buy the same items over HTTP.

The catalog is always checked row by row against what the file says, read from outside the
processes under test.
"""

from __future__ import annotations

import asyncio
import csv
import os
import random
import signal
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from adapters.database import Database
from adapters.postgres import Pooler
from tests.integration.cli_support import STOCKROOM, Target, stockroom
from tests.integration.databases import open_database
from tests.integration.failure_support import outside_connection, scalar, stock
from tests.integration.servers import live_client, stockroom_serve
from tests.integration.test_many_hosts import buy, seed, serve_settings
from tests.polling import eventually

ROWS = 10_000
HEADER = ["sku", "title", "price", "quantity", "description"]


@pytest.fixture
def sqlite_target(fresh_sqlite: Database) -> Target:
    return Target.of(fresh_sqlite)


@pytest.fixture
def postgres_target(fresh_postgres: Database) -> Target:
    return Target.of(fresh_postgres)


@pytest.fixture
def target(fresh_database: Database) -> Target:
    """A fresh database of the test's own: the imports here count every row in it."""
    return Target.of(fresh_database)


def good_row(n: int) -> list[str]:
    description = f"Line {n} of the supplier's list" if n % 3 else ""
    return [f"SUP-{n:06d}", f"Product {n}", f"{n % 500}.{n % 100:02d}", str(n % 1000), description]


BAD_ROWS = [  # (row, what the rejects file must say)
    (["SUP-BAD-PRICE", "Bad", "12,50", "1", ""], "price must be a decimal number"),
    (["SUP-BAD-QTY", "Bad", "1.00", "-4", ""], "quantity must be between"),
    (["", "No SKU", "1.00", "1", ""], "sku is required"),
    (["SUP BAD SKU", "Bad", "1.00", "1", ""], "SKU must be"),
    (["SUP-NO-TITLE", "", "1.00", "1", ""], "title is required"),
    (["SUP-CENTS", "Bad", "1.005", "1", ""], "at most two decimal places"),
    (["SUP-EXTRA", "Bad", "1.00", "1", "", "surplus"], "cells but the header"),
]


Row = tuple[str, str, Decimal, int, str | None]


def as_row(cells: list[str]) -> Row:
    """A file's row as the catalog must hold it."""
    sku, title, price, quantity, description = cells
    return (sku, title, Decimal(price), int(quantity), description or None)


def supplier_file(path: Path, rows: int, *, bad_every: int | None = 100) -> dict[str, Row]:
    """Write the file; return what the catalog must hold afterwards, by SKU, and record the
    bad rows' line numbers in ``path.bad`` (line -> expected reason)."""
    expected: dict[str, Row] = {}
    bad: dict[int, str] = {}
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(HEADER)
        for n in range(1, rows + 1):
            line = n + 1  # the header is line 1
            if bad_every and n % bad_every == 0:
                row, reason = BAD_ROWS[(n // bad_every) % len(BAD_ROWS)]
                bad[line] = reason
                writer.writerow(row)
                continue
            row = good_row(n)
            writer.writerow(row)
            expected[row[0]] = as_row(row)
    BAD_LINES[path] = bad
    return expected


BAD_LINES: dict[Path, dict[int, str]] = {}


async def catalog(database: Database) -> dict[str, Row]:
    async with outside_connection(database) as connection:
        rows = await connection.execute(
            text("SELECT sku, title, price_cents, quantity, description FROM items")
        )
        return {
            row.sku: (
                row.sku,
                row.title,
                Decimal(row.price_cents) / 100,
                row.quantity,
                row.description,
            )
            for row in rows
        }


def rejects_of(path: Path) -> dict[int, str]:
    rejects = path.with_name(path.name + ".rejects.csv")
    with rejects.open(newline="", errors="surrogateescape") as stream:
        return {int(row["line"]): row["reason"] for row in csv.DictReader(stream)}


async def test_a_10k_file_with_bad_rows_imports_every_good_row_and_reports_the_rest(
    target: Target, tmp_path: Path
) -> None:
    path = tmp_path / "supplier.csv"
    expected = supplier_file(path, ROWS)

    done = stockroom("items", "import", str(path), url=target.url)

    assert done.returncode == 3, done.stderr
    assert await catalog(target.database) == expected
    rejected = rejects_of(path)
    assert rejected.keys() == BAD_LINES[path].keys()
    for line, reason in BAD_LINES[path].items():
        assert reason in rejected[line], (line, rejected[line])
    summary = done.stdout.strip().splitlines()[-1]
    assert f"read {ROWS}, created {len(expected)}, updated 0, unchanged 0" in summary
    assert f"rejected {ROWS // 100}" in summary

    # The same file again: nothing to do, the bad rows reported again, accepted on request.
    again = stockroom("items", "import", str(path), "--allow-rejects", url=target.url)
    assert again.returncode == 0, again.stderr
    assert f"skipped {len(expected)}" in again.stdout
    assert await catalog(target.database) == expected


async def test_updates_change_only_what_the_file_changes(target: Target, tmp_path: Path) -> None:
    path = tmp_path / "first.jsonl"
    path.write_text(
        '{"sku": "A-1", "title": "Cup", "price": "3.50", "quantity": 5, "description": "d"}\n'
        '{"sku": "A-2", "title": "Plate", "price": 4.25, "quantity": 7}\n'
    )
    assert stockroom("items", "import", str(path), url=target.url).returncode == 0
    update = tmp_path / "prices.csv"
    update.write_text("sku,title,price\nA-1,Cup,3.50\na-2,Big plate,4.75\nA-3,Bowl,1.00\n")

    done = stockroom("items", "import", str(update), url=target.url)

    assert done.returncode == 0, done.stderr
    assert "created 1, updated 1, unchanged 1" in done.stdout
    assert await catalog(target.database) == {
        "A-1": ("A-1", "Cup", Decimal("3.50"), 5, "d"),
        "A-2": ("A-2", "Big plate", Decimal("4.75"), 7, None),
        "A-3": ("A-3", "Bowl", Decimal("1.00"), 0, None),
    }


def _interruptible() -> None:
    """In the child before exec: Ctrl-C as a terminal would deliver it. A child inherits an
    ignored SIGINT and a blocked signal mask from its parent, and in the whole suite the
    pytest process had one of them from an earlier test: the import then never saw the SIGINT
    and ran to its end (a fresh clone's `make test`, twice; never when run alone)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT])
async def test_a_run_stopped_half_way_finishes_when_run_again(
    target: Target, tmp_path: Path, stop: signal.Signals
) -> None:
    """In ``add`` mode, so a batch applied twice would show as doubled stock."""
    path = tmp_path / "delivery.csv"
    expected = supplier_file(path, ROWS)
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env["STOCKROOM_DATABASE_URL"] = target.url
    # Small batches: the run lasts long enough to be stopped half-way on a fast machine.
    command = [STOCKROOM, "items", "import", str(path), "--stock", "add", "--batch-size", "25"]
    if stop == signal.SIGINT:
        # Ctrl-C during an --again run: the advice must not be to repeat --again, which would
        # forget this run's batches and count them twice.
        command.append("--again")
    process = subprocess.Popen(  # noqa: S603, ASYNC220 - our own script; starting it does not block
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_interruptible,  # two signal calls in the child, no locks taken
    )
    try:
        async with outside_connection(target.database) as watcher:
            watcher = await watcher.execution_options(isolation_level="AUTOCOMMIT")

            async def rows() -> int:  # a count, not the catalog: the watch must be quick
                return int((await watcher.execute(text("SELECT count(*) FROM items"))).scalar_one())

            async def a_thousand_rows_in() -> bool:
                assert process.poll() is None, "the import finished before it could be stopped"
                return await rows() >= 1000

            await eventually(a_thousand_rows_in, 60)
            # Frozen where it is, at once: however long this test is kept off the CPU from now
            # on, the import cannot run to its end before it gets the signal.
            process.send_signal(signal.SIGSTOP)
            assert await rows() < len(expected), "the import finished before it could be stopped"
        process.send_signal(stop)
        process.send_signal(signal.SIGCONT)  # a stopped process handles SIGINT once resumed
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    part = await catalog(target.database)
    assert 1000 <= len(part) < len(expected), (
        f"stopped half-way: {len(part)} of {len(expected)} rows, exit {process.returncode}, "
        f"stderr: {stderr[-600:]!r}"
    )
    assert all(expected[sku] == row for sku, row in part.items())
    if stop == signal.SIGINT:
        assert process.returncode == 130
        assert "run the same command without --again to finish the import" in stderr

    # Finishing it in the other mode would set half the stock and add the other half.
    wrong = stockroom("items", "import", str(path), "--stock", "set", url=target.url)
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        "error: an earlier run imported this file (or part of it) with --stock add; finish it "
        "with --stock add, or use --again to import the whole file anew with --stock set"
    ]
    assert await catalog(target.database) == part

    rerun = stockroom("items", "import", str(path), "--stock", "add", url=target.url)

    assert rerun.returncode == 3, rerun.stderr
    assert await catalog(target.database) == expected  # every row once: no stock doubled


async def test_a_delivery_imported_while_customers_buy_loses_no_update(
    target: Target, tmp_path: Path
) -> None:
    skus = [f"HOT-{n}" for n in range(20)]
    tokens = await seed(target.database, 8, **dict.fromkeys(skus, 500))
    deliveries = 2000  # 100 deliveries of one unit for each item, in batches of 10
    path = tmp_path / "delivery.csv"
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["sku", "title", "price", "quantity"])
        for n in range(deliveries):
            writer.writerow([skus[n % len(skus)], skus[n % len(skus)], "2.50", "1"])
    settings = serve_settings(target.url, Pooler.NONE)
    importing = True

    async def customer(token: str, base: str, client_sold: list[int]) -> None:
        async with live_client(timeout=60) as client:
            while importing:
                answer = await buy(client, base, token, random.choice(skus))
                assert answer.status_code == 201, answer.text
                client_sold.append(1)

    with stockroom_serve(settings, tmp_path, workers=2) as base:
        sold: list[int] = []
        buyers = [asyncio.create_task(customer(token, base, sold)) for token in tokens]
        # Customers are buying before the import starts.
        await eventually(lambda: len(sold) >= len(tokens), 60)
        done = await asyncio.to_thread(
            stockroom,
            "items",
            "import",
            str(path),
            "--stock",
            "add",
            "--batch-size",
            "10",  # 200 short batches, so purchases run between and during them
            url=target.url,
        )
        importing = False
        await asyncio.gather(*buyers)

    assert done.returncode == 0, done.stderr
    assert len(sold) > 0
    left = await stock(target.database)
    async with outside_connection(target.database) as connection:
        lines = await connection.execute(text("SELECT sum(quantity) FROM order_lines"))
        sold_in_orders = int(lines.scalar_one())
    assert sold_in_orders == len(sold)
    assert sum(left.values()) == 500 * len(skus) + deliveries - len(sold)


@pytest.mark.parametrize("file_format", ["csv", "jsonl"])
async def test_export_then_import_into_an_empty_database_reproduces_the_catalog(
    target: Target, tmp_path: Path, file_format: str
) -> None:
    awkward = [
        ("ODD-1", 'Quote " and, comma', "0.00", "0", "line one\nline two"),
        ("ODD-2", "Ünïcödé ☕ title", "99999999.99", "1000000000", ""),
        ("ODD-3", "  spaced  ", "0.10", "3", "  kept as is  "),
    ]
    source = tmp_path / "source.csv"
    supplier_file(source, 500, bad_every=None)
    with source.open("a", newline="") as stream:
        csv.writer(stream).writerows(awkward)
    assert stockroom("items", "import", str(source), url=target.url).returncode == 0
    original = await catalog(target.database)
    assert len(original) == 503

    exported = tmp_path / f"catalog.{file_format}"
    done = stockroom("items", "export", "-o", str(exported), url=target.url)
    assert done.returncode == 0, done.stderr
    copy_url = f"sqlite+aiosqlite:///{tmp_path / 'copy.db'}"
    loaded = stockroom("items", "import", str(exported), url=copy_url)
    assert loaded.returncode == 0, loaded.stderr

    async with open_database(copy_url) as copy:
        assert await catalog(copy) == original


@pytest.mark.postgres
async def test_lookups_by_sku_keep_using_the_index_while_the_import_fills_the_table(
    postgres_target: Target, tmp_path: Path
) -> None:
    """Regression: PostgreSQL kept the plan it made for the empty table (a sequential scan)
    for the whole run, so every batch read the whole table: 100,000 rows in batches of 100
    took 150 s. The import now refreshes the statistics as the table grows."""
    rows, batch = 20_000, 100
    path = tmp_path / "growing.csv"
    supplier_file(path, rows, bad_every=None)

    done = stockroom(
        "items", "import", str(path), "--batch-size", str(batch), url=postgres_target.url
    )

    assert done.returncode == 0, done.stderr
    # A full scan per batch would read about rows * (rows / batch) / 2 = 2,000,000 rows; while
    # the table is small, a scan is the planner's right choice, and that is all it may read.
    read_by_full_scans = await scalar(
        postgres_target.database,
        "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'items'",
    )
    assert read_by_full_scans < rows * 5, read_by_full_scans


async def test_a_file_that_cannot_be_imported_is_one_line_and_exit_1(
    sqlite_target: Target, tmp_path: Path
) -> None:
    url = sqlite_target.url
    text = tmp_path / "list.txt"
    text.write_text("sku,title,price\nA-1,Cup,1.00\n")
    unknown = stockroom("items", "import", str(text), url=url)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "error: cannot tell the format of list.txt from its extension (.csv, .jsonl, .ndjson); "
        "use --format",
    )
    forced = stockroom("items", "import", str(text), "--format", "csv", url=url)
    assert forced.returncode == 0, forced.stderr

    header = tmp_path / "header.csv"
    header.write_text("sku,title,colour\nA-2,Plate,red\n")
    bad = stockroom("items", "import", str(header), url=url)
    assert (bad.returncode, bad.stderr.strip()) == (
        1,
        "error: bad header: missing column(s) price; unknown column(s) colour "
        "(expected sku,title,price,quantity,description)",
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    nothing = stockroom("items", "import", str(empty), url=url)
    assert nothing.returncode == 1
    assert "the file is empty" in nothing.stderr
    assert set(await catalog(sqlite_target.database)) == {"A-1"}


async def test_rows_that_cannot_be_read_are_rejected_not_fatal(
    sqlite_target: Target, tmp_path: Path
) -> None:
    lines = tmp_path / "mixed.jsonl"
    lines.write_bytes(
        b'{"sku": "J-1", "title": "Cup", "price": "1.00"}\n'
        b"{not json\n"
        b"\n"
        b'["a", "list"]\n'
        b'{"sku": "J-2", "title": "Caf\xe9", "price": "2.00"}\n'
        b'{"sku": "J-3", "title": "Bowl", "price": "3.00", "quantity": 2}\n'
    )
    done = stockroom("items", "import", str(lines), url=sqlite_target.url)

    assert done.returncode == 3, done.stderr
    assert set(await catalog(sqlite_target.database)) == {"J-1", "J-3"}
    rejected = rejects_of(lines)
    assert rejected.keys() == {2, 4, 5}
    assert rejected[2].startswith("not valid JSON")
    assert rejected[4] == "not a JSON object"
    assert rejected[5] == "title must be valid Unicode text"
    # The undecodable row is written back to the rejects file byte for byte.
    raw = lines.with_name("mixed.jsonl.rejects.csv").read_bytes()
    assert b"Caf\xe9" in raw


async def test_the_rejects_file_cannot_be_the_input_and_a_pipe_is_refused(
    sqlite_target: Target, tmp_path: Path
) -> None:
    path = tmp_path / "list.csv"
    path.write_text("sku,title,price\nA-1,Cup,1.00\n")
    same = stockroom("items", "import", str(path), "--rejects", str(path), url=sqlite_target.url)
    assert (same.returncode, same.stderr.strip()) == (
        1,
        "error: --rejects names the file being imported; choose another path",
    )
    assert path.read_text() == "sku,title,price\nA-1,Cup,1.00\n"  # untouched

    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)
    piped = stockroom("items", "import", str(pipe), url=sqlite_target.url)
    assert (piped.returncode, piped.stderr.strip()) == (
        1,
        f"error: {pipe} is not a regular file; save it to a file first",
    )
    assert await catalog(sqlite_target.database) == {}
