"""``python -m bench.pages [--items N] [--repetitions R] [--databases sqlite,postgresql]``
(``make bench-pages``): a deep page by offset against the same page by key, in one run, on a
SQLite file and on a throwaway PostgreSQL database (issue 24).

Per database: a fresh database migrated to head (the real schema and indexes), N items
(100,000) written by SQLAlchemy Core into the project's own ``items`` table, then ANALYZE.
Then, at the read port the API uses (``SqlAlchemyReads`` on the ``Database`` the container
builds), R timed calls of each case, in an order that rotates every repetition:

- page 1,000 by offset: ``items(skip=99_900, limit=100)``, the classic contract;
- page 1,000 by key: ``items(after_id=<id of the 99,900th item>, limit=100)``, what a cursor
  carries;
- page 1 both ways (``skip=0``; ``after_id=0``, below every id), for reference.

Before timing, the two ways must return the same items (a fast but wrong page stops the run).
The report gives the median and the 95th percentile of each, their ratio offset / key, and the
plan of each page-1,000 statement exactly as the port sent it.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import event, insert, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.database import Database
from adapters.orm import items
from adapters.reads import SqlAlchemyReads
from bench.cases import ADMIN_URL, PG, SQLITE, URLS
from entrypoints import migrations

REPO = Path(__file__).resolve().parent.parent
PAGE = 100  # items per page: the API's default limit
DEEP_PAGE = 1000  # the page measured: items 99,901..100,000 of 100,000
CHUNK = 10_000  # rows per executemany while seeding, one transaction each
WARM_UP = 20  # untimed calls of each case first: pools filled, statements compiled and cached


class Timing(NamedTuple):
    median_ms: float
    p95_ms: float


def timing(samples_ns: Sequence[int]) -> Timing:
    """The median and the 95th percentile of ``samples_ns`` (nanoseconds), in milliseconds.
    The percentile by nearest rank: a sample that was measured, the smallest with at least
    95% of the samples at or below it, not a value interpolated between two."""
    if not samples_ns:
        raise ValueError("no samples")
    ordered = sorted(samples_ns)
    p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]
    return Timing(statistics.median(ordered) / 1e6, p95 / 1e6)


def rotated(cases: Sequence[str], repetition: int) -> list[str]:
    """The cases in the order of ``repetition``: each starts one place later than in the
    repetition before, so that no case always runs first (or always right after another)."""
    shift = repetition % len(cases)
    return [*cases[shift:], *cases[:shift]]


@dataclass
class Measured:
    kind: str
    skip: int  # the deep page's offset; its key is the id of the item just before it
    samples: dict[str, list[int]] = field(default_factory=dict)  # case -> nanoseconds
    plans: dict[str, list[str]] = field(default_factory=dict)  # case -> the plan's lines
    version: str = ""


# The four cases, by the name the report gives them (what each calls: ``_measure``).
OFFSET_DEEP, KEY_DEEP, OFFSET_FIRST, KEY_FIRST = (
    "page 1,000 by offset",
    "page 1,000 by key",
    "page 1 by offset",
    "page 1 by key",
)
CASES = (OFFSET_DEEP, KEY_DEEP, OFFSET_FIRST, KEY_FIRST)


def _rows(count: int) -> Iterator[dict[str, Any]]:
    """Items as a catalog holds them: a SKU, a title, a description of about 80 characters
    (none for one in five), a price and a stock."""
    for n in range(1, count + 1):
        yield {
            "sku": f"PAGES-{n:06d}",
            "title": f"Paged item no. {n:06d}",
            "description": None if n % 5 == 0 else f"Item {n}, seeded to page through. " * 2,
            "price_cents": Decimal(100 + n % 900) + Decimal("0.99"),  # Cents binds it as cents
            "quantity": n % 50,
        }


async def _seed(database: Database, count: int) -> None:
    rows = _rows(count)
    while chunk := list(islice(rows, CHUNK)):
        async with database.engine.begin() as connection:
            await connection.execute(insert(items), chunk)
    # Statistics (and, on PostgreSQL, the visibility map) as a database that has been up for
    # a while has them: otherwise the first plans are made for a table the planner thinks
    # is empty, and the autovacuum could start in the middle of the timing.
    if database.dialect == "postgresql":
        autocommit = database.engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as connection:
            await connection.execute(text("VACUUM ANALYZE items"))
    else:
        async with database.engine.begin() as connection:
            await connection.execute(text("ANALYZE"))


class _LastStatement:
    """The last statement the read port sent and its driver-level parameters, caught by
    SQLAlchemy's ``before_cursor_execute`` event: its plan is then asked for exactly as sent."""

    def __init__(self, database: Database) -> None:
        self.sent: tuple[str, Any] = ("", ())
        self._engines = list(database.engines().values())
        for engine in self._engines:
            event.listen(engine, "before_cursor_execute", self._caught)

    def _caught(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self.sent = (statement, parameters)

    def stop(self) -> None:
        """No more catching: the timed calls must not pay for it."""
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._caught)


async def _plan(database: Database, sent: tuple[str, Any]) -> list[str]:
    statement, parameters = sent
    if database.dialect == "postgresql":
        # Run for real (ANALYZE) to show the rows each node read; no costs or timings, which
        # the table below measures better: only the shape of the work.
        explain = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
        column = 0
    else:
        explain, column = "EXPLAIN QUERY PLAN ", 3  # (id, parent, notused, detail)
    async with database.read_engine.connect() as connection:
        result = await connection.exec_driver_sql(explain + statement, parameters)
        return [" ".join(str(row[column]).split()) for row in result]


async def _measure(url: str, kind: str, count: int, repetitions: int) -> Measured:
    database = Database(url)
    try:
        await _seed(database, count)
        reads = SqlAlchemyReads(database.reader)  # what the container gives the API (no replicas)
        skip = (DEEP_PAGE - 1) * PAGE
        before = await reads.items(skip=skip - 1, limit=1)  # the item just before the page
        deep_key = before[0].id
        calls = {
            OFFSET_DEEP: lambda: reads.items(skip=skip, limit=PAGE),
            KEY_DEEP: lambda: reads.items(after_id=deep_key, limit=PAGE),
            OFFSET_FIRST: lambda: reads.items(skip=0, limit=PAGE),
            KEY_FIRST: lambda: reads.items(after_id=0, limit=PAGE),
        }
        measured = Measured(kind, skip, {case: [] for case in CASES})
        for by_offset, by_key in ((OFFSET_DEEP, KEY_DEEP), (OFFSET_FIRST, KEY_FIRST)):
            pages = [[item.id for item in await calls[case]()] for case in (by_offset, by_key)]
            if pages[0] != pages[1] or len(pages[0]) != PAGE:
                raise RuntimeError(f"{kind}: {by_offset} and {by_key} differ: {pages}")
        sent = _LastStatement(database)
        for case in (OFFSET_DEEP, KEY_DEEP):
            await calls[case]()
            measured.plans[case] = await _plan(database, sent.sent)
        sent.stop()
        for _ in range(WARM_UP):
            for case in CASES:
                await calls[case]()
        for repetition in range(repetitions):
            for case in rotated(CASES, repetition):
                started = time.perf_counter_ns()
                await calls[case]()
                measured.samples[case].append(time.perf_counter_ns() - started)
        async with database.read_engine.connect() as connection:
            if database.dialect == "postgresql":
                measured.version = str(await connection.scalar(text("SHOW server_version")))
            else:
                measured.version = str(await connection.scalar(text("SELECT sqlite_version()")))
        return measured
    finally:
        await database.dispose()


def _admin(statement: str) -> None:
    """One statement on the admin database, outside a transaction (CREATE and DROP DATABASE
    refuse to run in one); fails fast when nobody answers."""

    async def run() -> None:
        url = ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://", 1)
        engine = create_async_engine(url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run())


def _postgres_unreachable() -> str | None:
    """Why the admin URL's PostgreSQL cannot be used (nobody listening, refused, no such
    role...), or ``None`` when it answers."""
    try:
        _admin("SELECT 1")
    except (OSError, DBAPIError) as error:  # OSError: refused, or no answer in time
        where = make_url(ADMIN_URL).render_as_string(hide_password=True)
        reason = str(error).splitlines()[0]
        return f"**PostgreSQL not measured**: {where} cannot be used ({reason})."
    return None


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """A database of ``kind`` of this run's own, migrated to head: its URL. PostgreSQL's is
    dropped at the end; SQLite's file goes with ``folder``."""
    name = f"bench_pages_{secrets.token_hex(4)}"
    if kind == PG:
        _admin(f'CREATE DATABASE "{name}"')
    else:
        name = str(folder / f"{name}.db")
    url = URLS[kind].format(database=name)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        if kind == PG:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def report(measured: Sequence[Measured], count: int, repetitions: int) -> str:
    lines = [
        f"{count:,} items, {PAGE} a page; {repetitions} timed calls of each case after "
        f"{WARM_UP} untimed, in an order that rotates every repetition; milliseconds per call "
        "of the read port (`SqlAlchemyReads.items`).",
        "",
        "| database | page | offset median | offset p95 | key median | key p95 "
        "| offset / key (median) | offset / key (p95) |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for one in measured:
        for page, (by_offset, by_key) in (
            (f"1,000 (`skip={one.skip:,}`)", (OFFSET_DEEP, KEY_DEEP)),
            ("1 (`skip=0`)", (OFFSET_FIRST, KEY_FIRST)),
        ):
            offset, key = timing(one.samples[by_offset]), timing(one.samples[by_key])
            lines.append(
                f"| {one.kind} {one.version} | {page} | {_ms(offset.median_ms)} "
                f"| {_ms(offset.p95_ms)} | {_ms(key.median_ms)} | {_ms(key.p95_ms)} "
                f"| {offset.median_ms / key.median_ms:.1f}x | {offset.p95_ms / key.p95_ms:.1f}x |"
            )
    for one in measured:
        lines += ["", f"Plans on {one.kind}, page 1,000:", ""]
        for case, plan in one.plans.items():
            lines.append(f"- {case.removeprefix('page 1,000 ')}: `{' / '.join(plan)}`")
    return "\n".join(lines)


def _commit() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__)
    parser.add_argument("--items", type=int, default=100_000, help="items seeded (100000)")
    parser.add_argument("--repetitions", type=int, default=500, help="timed calls a case (500)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite, postgresql")
    args = parser.parse_args()
    if args.items < DEEP_PAGE * PAGE:
        parser.error(
            f"--items must be at least {DEEP_PAGE * PAGE:,}: page {DEEP_PAGE:,} is measured"
        )
    kinds = [{"sqlite": SQLITE, "postgresql": PG}[name] for name in args.databases.split(",")]
    started = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {os.getloadavg()[0]:.2f}"
    measured, missing = [], []
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-pages-") as folder:
        for kind in kinds:
            if kind == PG and (unreachable := _postgres_unreachable()):
                missing.append(unreachable)  # said in the report; the SQLite rows still come
                print(f"bench: {unreachable}", file=sys.stderr)
                continue
            with fresh_database(kind, Path(folder)) as url:
                print(f"bench: {kind}: seeding and measuring", file=sys.stderr)
                measured.append(asyncio.run(_measure(url, kind, args.items, args.repetitions)))
    machine = (
        f"Machine: {started} at the start, {os.getloadavg()[0]:.2f} at the end; commit "
        f"{_commit()}; {_cpu()}, {os.cpu_count()} cores; Python {platform.python_version()}."
    )
    text_ = "\n\n".join([machine, report(measured, args.items, args.repetitions), *missing])
    print(text_)
    (REPO / "bench/results").mkdir(exist_ok=True)
    (REPO / "bench/results/pages.md").write_text(text_ + "\n")
    return 0 if measured else 1


if __name__ == "__main__":
    sys.exit(main())
