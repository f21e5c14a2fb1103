"""``python -m bench.import [--rows N] [--databases sqlite,postgresql]`` (``make bench-import``):
``stockroom items import`` against plain SQLAlchemy Core ``executemany``, on a SQLite file and
on a throwaway PostgreSQL database, and the importer's peak RSS at N/10 and at N rows.

Per database: N rows into an empty catalog ("insert"), then the same N rows with every title
and price changed ("update"); the importer's phase and Core's alternate, each side in a freshly
migrated database of its own. Every result is checked against the file (row count, sums of
prices, quantities and title lengths): a fast but wrong import stops the run.
"""

import argparse
import asyncio
import csv
import os
import random
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, event, insert, update
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.orm import items
from bench.cases import ADMIN_URL, PG, SQLITE, URLS

REPO = Path(__file__).resolve().parent.parent
STOCKROOM = str(REPO / ".venv/bin/stockroom")
CHUNK = 1000  # Core's rows per executemany, one transaction each: the importer's default batch
GOAL, FLAT = 0.5, 1.25  # import rows/s over Core's at least; peak RSS at N over N/10 at most
WORDS = ("steel", "oak", "linen", "brass", "amber", "cobalt", "walnut", "cedar", "copper", "slate")
TOTALS = (
    "SELECT count(*), coalesce(sum(price_cents), 0), coalesce(sum(quantity), 0), "
    "coalesce(sum(length(title)), 0) FROM items"
)
# Runs argv[3:] with its output to the files argv[1] and argv[2]; prints its exit code, wall
# seconds and peak RSS (KiB). Why not measured from the bench itself: Python starts a child
# with vfork, and Linux carries the high-water RSS of the address space a process leaves at
# execve into its ru_maxrss, so from here a 5 MiB /bin/true reported the bench's own peak.
LAUNCHER = """
import os, subprocess, sys, time
with open(sys.argv[1], "wb") as out, open(sys.argv[2], "wb") as err:
    started = time.perf_counter()
    process = subprocess.Popen(sys.argv[3:], stdout=out, stderr=err)
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
print(process.returncode, time.perf_counter() - started, usage.ru_maxrss)
"""


def write_files(folder: Path, rows: int) -> tuple[Path, Path]:
    """Fixed-seed files with the same SKUs, quantities and descriptions; in the second, every
    title and every price differs from the first's."""
    rng, paths = random.Random(16), (folder / "insert.csv", folder / "update.csv")
    with paths[0].open("w", newline="") as first, paths[1].open("w", newline="") as second:
        writers = csv.writer(first), csv.writer(second)
        for writer in writers:
            writer.writerow(("sku", "title", "price", "quantity", "description"))
        for n in range(1, rows + 1):
            title = f"{' '.join(rng.choice(WORDS).title() for _ in range(3))} no. {n:06d}"
            words = " ".join(rng.choice(WORDS) for _ in range(12)).capitalize()[:80] + "."
            about = words if rng.random() >= 0.2 else ""  # one in five has none
            cents, quantity = rng.randint(100, 99_999), rng.randint(0, 1000)
            new_cents = cents + rng.randint(1, 5000)
            sku = f"BENCH-{n:06d}"
            writers[0].writerow((sku, title, f"{cents / 100:.2f}", quantity, about))
            writers[1].writerow(
                (sku, f"{title} (rev. 2)", f"{new_cents / 100:.2f}", quantity, about)
            )
    return paths


def _psql(statement: str, url: str = ADMIN_URL) -> str:
    argv = ["psql", url, "-qAtc", statement]
    return subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()


def verify(url: str, path: Path, who: str) -> None:
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    wanted = (
        len(rows),
        sum(int(row["price"].replace(".", "")) for row in rows),
        sum(int(row["quantity"]) for row in rows),
        sum(len(row["title"]) for row in rows),
    )
    if url.startswith("sqlite"):
        with sqlite3.connect(url.split("///", 1)[1]) as connection:
            found = tuple(connection.execute(TOTALS).fetchone())
    else:
        plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        found = tuple(map(int, _psql(TOTALS, plain).split("|")))
    if found != wanted:
        raise RuntimeError(f"{who}: the items table holds {found}, the file {wanted}")


class Bench:
    def __init__(self, folder: Path) -> None:
        self.folder, self.cwd = folder, folder / "cwd"  # an empty directory: no .env is read
        self.cwd.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKROOM_")}
        self.env |= {"STOCKROOM_SECRET_KEY": secrets.token_urlsafe(48), "PYTHONPATH": str(REPO)}

    @contextmanager
    def database(self, kind: str) -> Iterator[str]:
        """A fresh database of ``kind``, migrated by ``stockroom db upgrade``: its URL."""
        name = f"stockroom_bench_import_{secrets.token_hex(4)}"
        if kind == PG:
            _psql(f'CREATE DATABASE "{name}"')
        else:
            name = str(self.folder / f"{name}.db")
        url = URLS[kind].format(database=name)
        env = self.env | {"STOCKROOM_DATABASE_URL": url}
        try:
            upgrade = [STOCKROOM, "db", "upgrade"]
            subprocess.run(upgrade, env=env, cwd=self.cwd, check=True, stdout=subprocess.DEVNULL)
            yield url
        finally:
            if kind == PG:
                _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def import_file(self, url: str, path: Path) -> tuple[float, float, int]:
        """``stockroom items import``: the process's seconds, the seconds it reports (from its
        first read of the file to its last commit, as Core is timed), its peak RSS in KiB."""
        argv = [STOCKROOM, "items", "import", str(path), "--quiet", "--stock", "set"]
        out, err = self.folder / "import.out", self.folder / "import.err"
        launcher = [sys.executable, "-c", LAUNCHER, str(out), str(err), *argv]
        env = self.env | {"STOCKROOM_DATABASE_URL": url}
        done = subprocess.run(launcher, env=env, cwd=self.cwd, capture_output=True, text=True)
        code, process_seconds, peak_kib = done.stdout.split()
        summary = out.read_text(errors="replace").strip()
        reported = re.search(r"([0-9.]+) s, ", summary)
        if code != "0" or reported is None:
            tail = err.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"`{' '.join(argv[1:])}` exited {code}: {summary}\n{tail}")
        return float(process_seconds), float(reported.group(1)), int(peak_kib)


def _sqlite_journal(dbapi_connection: Any, _record: Any) -> None:
    """The journal Stockroom gives SQLite (adapters/sqlite.py): Core must not lose only
    because it syncs the file on every commit."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def _core(phase: str, url: str, path: Path) -> None:
    engine = create_async_engine(url)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_journal)
    if phase == "insert":
        prefix, statement = "", insert(items)
    else:  # every column of the row with that SKU, bound as b_* (a bind may not be a column's name)
        columns = ("title", "description", "price_cents", "quantity")
        changes = {column: bindparam(f"b_{column}") for column in columns}
        prefix = "b_"
        statement = update(items).where(items.c.sku == bindparam("b_sku")).values(changes)
    try:
        with path.open(newline="", encoding="utf-8") as file:
            rows = (
                {
                    f"{prefix}sku": row["sku"],
                    f"{prefix}title": row["title"],
                    f"{prefix}description": row["description"] or None,
                    f"{prefix}price_cents": Decimal(row["price"]),  # Cents binds it as cents
                    f"{prefix}quantity": int(row["quantity"]),
                }
                for row in csv.DictReader(file)
            )
            while chunk := list(islice(rows, CHUNK)):
                async with engine.begin() as connection:
                    await connection.execute(statement, chunk)
    finally:
        await engine.dispose()


def core(phase: str, url: str, path: Path) -> float:
    """The same rows by Core executemany, on the same driver, into the project's own ``items``
    table (prices bind through its Cents type), timed from opening the file (CSV parsing
    included) to the last commit, in this process: no interpreter start."""
    started = time.perf_counter()
    asyncio.run(_core(phase, url, path))
    return time.perf_counter() - started


PHASES = (
    "| database | phase | rows | import s (process s) | import rows/s | Core s | Core rows/s "
    f"| ratio | >= {GOAL}x |\n|---|---|--:|--:|--:|--:|--:|--:|---|"
)
MEMORY = f"| database | rows | peak RSS | rows | peak RSS | ratio | flat (<= {FLAT}x) |"
MEMORY += "\n|---|--:|--:|--:|--:|--:|---|"


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def measure(bench: Bench, kind: str, files: tuple[Path, Path], rows: int) -> tuple[str, str]:
    """``kind``'s rows of the two tables: the phases, then the peak RSS."""
    lines, peaks = [], []
    with bench.database(kind) as ours, bench.database(kind) as theirs:
        for phase, path in zip(("insert", "update"), files, strict=True):
            if kind == PG:  # no measurement pays for the dirty pages of the one before
                _psql("CHECKPOINT")
            process, seconds, peak = bench.import_file(ours, path)
            verify(ours, path, f"the import ({kind} {phase})")
            peaks.append(peak)
            if kind == PG:
                _psql("CHECKPOINT")
            core_seconds = core(phase, theirs, path)
            verify(theirs, path, f"Core ({kind} {phase})")
            ratio = core_seconds / seconds
            print(f"bench: {kind} {phase}: {ratio:.2f}x Core", file=sys.stderr)
            lines.append(
                f"| {kind} | {phase} | {rows:,} | {seconds:.2f} ({process:.2f}) "
                f"| {rows / seconds:,.0f} | {core_seconds:.2f} | {rows / core_seconds:,.0f} "
                f"| {ratio:.2f}x | {_yes(ratio >= GOAL)} |"
            )
    small = bench.folder / "small.csv"
    with files[0].open() as source:
        small.write_text("".join(islice(source, rows // 10 + 1)))  # the header and N/10 rows
    with bench.database(kind) as url:
        small_peak = bench.import_file(url, small)[2]
    growth = peaks[0] / small_peak
    memory = (
        f"| {kind} | {rows // 10:,} | {small_peak / 1024:.1f} MiB | {rows:,} "
        f"| {peaks[0] / 1024:.1f} MiB | {growth:.2f}x | {_yes(growth <= FLAT)} |"
    )
    return "\n".join(lines), memory


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.import", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="rows per file (100000)")
    parser.add_argument("--databases", default="sqlite,postgresql", help="sqlite, postgresql")
    args = parser.parse_args()
    kinds = [{"sqlite": SQLITE, "postgresql": PG}[name] for name in args.databases.split(",")]
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-import-") as folder:
        bench = Bench(Path(folder))
        files = write_files(bench.folder, args.rows)
        measured = [measure(bench, kind, files, args.rows) for kind in kinds]
    about = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load average"
    tables = [PHASES, *(phases for phases, _ in measured), "", MEMORY]
    tables += [memory for _, memory in measured]
    text = "\n".join([f"{about} {os.getloadavg()[0]:.2f}\n", *tables])
    print(text)
    (REPO / "bench/results").mkdir(exist_ok=True)
    (REPO / "bench/results/import.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
