"""The import benchmark (issue 16), run by ``python -m bench.import`` (bench/import.py).

In one run, on a SQLite file and on a throwaway PostgreSQL database, each freshly migrated by
``stockroom db upgrade``: ``stockroom items import FILE --quiet`` as a subprocess, timed from
start to exit, for N rows into an empty catalog ("insert") and the same N rows again with
every title and price changed ("update"); beside it, the same rows by plain SQLAlchemy Core
``executemany`` (bench/import_core.py) into a database of its own. Then the importer's peak
RSS for N/10 rows against N rows: memory should stay flat as the file grows. Every database
is checked afterwards (row count, sums of prices, quantities and title lengths) against the
file, so a fast but wrong import cannot pass unnoticed.
"""

import argparse
import contextlib
import csv
import os
import platform
import random
import re
import secrets
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from bench import import_core
from bench.cases import ADMIN_URL, DEFAULT_URLS, PG, SQLITE

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"  # git-ignored
STOCKROOM = REPO / ".venv" / "bin" / "stockroom"
DATABASES = {"sqlite": SQLITE, "postgresql": PG}
GOAL_RATIO = 0.5  # import rows/s over Core rows/s, at least
FLAT_RSS = 1.25  # peak RSS at N rows over N/10 rows, at most: "flat"
SEED = 16  # the files are the same in every run
_VOCABULARY = """steel oak linen brass amber cobalt walnut cedar copper slate ivory maple granite
velvet canvas bamboo marble pewter birch onyx hinge bracket lantern kettle shelf drawer ladle
basket mirror cushion bolt spindle clamp"""
WORDS = tuple(_VOCABULARY.split())  # titles and descriptions are drawn from these


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the input files ---------------------------------------------------------------------


def _sku(number: int) -> str:
    return f"BENCH-{number:06d}"


def _title(rng: random.Random, number: int) -> str:  # about 30 characters
    return f"{' '.join(rng.choice(WORDS).title() for _ in range(3))} no. {number:06d}"


def _description(rng: random.Random) -> str:  # about 80 characters, or none for one in five
    if rng.random() < 0.2:
        return ""
    return " ".join(rng.choice(WORDS) for _ in range(12)).capitalize()[:80] + "."


def _price(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def write_files(directory: Path, rows: int) -> tuple[Path, Path]:
    """The insert file and the update file: the same SKUs, quantities and descriptions; in the
    second every title and every price differs from the first's."""
    rng, changed = random.Random(SEED), random.Random(SEED + 1)
    insert, update = directory / "insert.csv", directory / "update.csv"
    header = ("sku", "title", "price", "quantity", "description")
    with insert.open("w", newline="") as first, update.open("w", newline="") as second:
        writers = csv.writer(first), csv.writer(second)
        for writer in writers:
            writer.writerow(header)
        for number in range(1, rows + 1):
            cents, quantity = rng.randint(100, 99_999), rng.randint(0, 1000)
            title, description = _title(rng, number), _description(rng)
            new_title = f"{_title(changed, number)} (rev. 2)"
            new_cents = cents + changed.randint(1, 5000)
            writers[0].writerow((_sku(number), title, _price(cents), quantity, description))
            row = (_sku(number), new_title, _price(new_cents), quantity, description)
            writers[1].writerow(row)
    return insert, update


def head(path: Path, rows: int, into: Path) -> Path:
    """The first ``rows`` rows of ``path`` (and its header), as a file of their own."""
    with path.open(newline="") as source, into.open("w", newline="") as target:
        for _ in range(rows + 1):
            target.write(source.readline())
    return into


class Totals(NamedTuple):
    rows: int
    cents: int
    quantity: int
    title_characters: int


def expected(path: Path) -> Totals:
    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    return Totals(
        len(rows),
        sum(int(row["price"].replace(".", "")) for row in rows),
        sum(int(row["quantity"]) for row in rows),
        sum(len(row["title"]) for row in rows),
    )


# --- databases -----------------------------------------------------------------------------


def _psql(statement: str, url: str = ADMIN_URL) -> str:
    argv = ["psql", url, "-qAtc", statement]
    return subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()


TOTALS_SQL = (
    "SELECT count(*), coalesce(sum(price_cents), 0), coalesce(sum(quantity), 0), "
    "coalesce(sum(length(title)), 0) FROM items"
)


@dataclass
class Bench:
    """The run's environment: a working directory, the subprocesses' settings, and every
    database it made (each dropped or deleted at the end, whatever happened)."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cwd = self.workdir / "cwd"  # subprocesses start in an empty directory: no .env
        self.cwd.mkdir()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKROOM_")}
        self.env |= {"STOCKROOM_SECRET_KEY": secrets.token_urlsafe(48), "PYTHONPATH": str(REPO)}

    @contextlib.contextmanager
    def database(self, kind: str) -> Iterator[str]:
        """A fresh database of ``kind`` (PG or SQLITE), migrated to head: its URL."""
        name = f"stockroom_bench_import_{secrets.token_hex(4)}"
        if kind == PG:
            _psql(f'CREATE DATABASE "{name}"')
        else:
            name = str(self.workdir / f"{name}.db")
        url = DEFAULT_URLS[kind].format(database=name)
        try:
            self._stockroom(url, "db", "upgrade")
            yield url
        finally:
            if kind == PG:
                _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                for suffix in ("", "-wal", "-shm", "-writer.lock"):
                    Path(f"{name}{suffix}").unlink(missing_ok=True)

    def _stockroom(self, url: str, *arguments: str) -> None:
        env = self.env | {"STOCKROOM_DATABASE_URL": url}
        argv = [str(STOCKROOM), *arguments]
        subprocess.run(argv, env=env, cwd=self.cwd, check=True, stdout=subprocess.DEVNULL)

    def import_available(self) -> bool:
        argv = [str(STOCKROOM), "items", "import", "--help"]
        found = subprocess.run(argv, env=self.env, cwd=self.cwd, capture_output=True)
        return found.returncode == 0

    def import_file(self, url: str, path: Path, batch_size: int | None) -> "Imported":
        """``stockroom items import PATH --quiet`` as a subprocess: its wall time, peak RSS and
        the one line it printed. Started by a small launcher (``_LAUNCHER``), not by this
        process: see there why."""
        argv = [str(STOCKROOM), "items", "import", str(path), "--quiet", "--stock", "set"]
        if batch_size is not None:
            argv += ["--batch-size", str(batch_size)]
        env = self.env | {"STOCKROOM_DATABASE_URL": url}
        out, err = self.workdir / "import.out", self.workdir / "import.err"
        launcher = [sys.executable, "-c", _LAUNCHER, str(out), str(err), *argv]
        measured = subprocess.run(
            launcher, env=env, cwd=self.cwd, check=True, text=True, stdout=subprocess.PIPE
        ).stdout.split()
        returncode, seconds, peak_rss_kib = int(measured[0]), float(measured[1]), int(measured[2])
        summary = out.read_text(errors="replace").strip()
        if returncode != 0:
            tail = "\n".join(err.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"`{' '.join(argv[1:])}` exited {returncode}:\n{summary}\n{tail}")
        return Imported(seconds, peak_rss_kib, summary)


# Runs argv[3:] with its output to the files argv[1] and argv[2]; prints its exit code, wall
# seconds and peak RSS (``wait4``'s ``ru_maxrss``, KiB on Linux). Why a launcher: Linux carries
# the high-water RSS of the address space a process leaves at ``execve`` into its ``ru_maxrss``,
# and Python's subprocess starts a child with ``vfork``, in its parent's address space: measured
# from here, a 5 MiB ``/bin/true`` reports this process's peak (the baseline's rows, the files'
# totals...). The launcher's own peak, about 13 MiB, is the floor of what it can report.
_LAUNCHER = """
import os, subprocess, sys, time
with open(sys.argv[1], "wb") as stdout, open(sys.argv[2], "wb") as stderr:
    started = time.perf_counter()
    process = subprocess.Popen(sys.argv[3:], stdout=stdout, stderr=stderr)
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait
print(process.returncode, seconds, usage.ru_maxrss)
"""


class Imported(NamedTuple):
    seconds: float  # the process, start to exit
    peak_rss_kib: int
    summary: str  # what ``--quiet`` printed

    @property
    def work_seconds(self) -> float:
        """What the import itself reported: from its first read of the file (the digest pass
        included) to its last commit, without the interpreter's start and imports, as the
        Core baseline is timed."""
        found = re.search(r"; ([0-9.]+) s, ", self.summary)
        if found is None:
            raise RuntimeError(f"no seconds in the import's summary: {self.summary!r}")
        return float(found.group(1))


def checkpoint(kind: str) -> None:
    """No measurement pays for the dirty pages of the one before it."""
    if kind == PG:
        _psql("CHECKPOINT")


def totals(url: str) -> Totals:
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.split("///", 1)[1])
        try:
            return Totals(*connection.execute(TOTALS_SQL).fetchone())
        finally:
            connection.close()
    plain = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    return Totals(*map(int, _psql(TOTALS_SQL, plain).split("|")))


def verify(url: str, path: Path, who: str) -> None:
    found, wanted = totals(url), expected(path)
    if found != wanted:
        raise RuntimeError(f"{who}: the items table holds {found}, the file {wanted}")


# --- the measurements ----------------------------------------------------------------------


@dataclass
class Phase:
    database: str
    phase: str  # insert or update
    rows: int
    core_seconds: float
    imported: Imported | None = None  # None: the baseline alone (--core-only)


@dataclass
class Memory:
    database: str
    small_rows: int
    small_kib: int
    rows: int
    kib: int


def measure(bench: Bench, kind: str, files: tuple[Path, Path], args: argparse.Namespace) -> None:
    """The insert and update phases, the importer's then the baseline's, alternating."""
    rows: int = args.rows
    with bench.database(kind) as imported_url, bench.database(kind) as core_url:
        for phase, path in zip(("insert", "update"), files, strict=True):
            imported = None
            if not args.core_only:
                checkpoint(kind)
                log(f"bench: {kind} {phase}, {rows:,} rows: stockroom items import")
                imported = bench.import_file(imported_url, path, args.batch_size)
                log(f"bench:   {imported.seconds:.2f} s; it said: {imported.summary}")
                verify(imported_url, path, f"the import ({kind} {phase})")
            checkpoint(kind)
            log(f"bench: {kind} {phase}, {rows:,} rows: Core executemany")
            core_seconds = import_core.run(phase, core_url, path)
            log(f"bench:   {core_seconds:.2f} s")
            verify(core_url, path, f"the baseline ({kind} {phase})")
            args.phases.append(Phase(kind, phase, rows, core_seconds, imported))
    if args.core_only:
        return
    small_rows = max(rows // 10, 1)
    small = head(files[0], small_rows, bench.workdir / "small.csv")
    with bench.database(kind) as url:
        checkpoint(kind)
        log(f"bench: {kind}: stockroom items import of {small_rows:,} rows, for its peak RSS")
        small_kib = bench.import_file(url, small, args.batch_size).peak_rss_kib
        verify(url, small, f"the import ({kind}, {small_rows} rows)")
    big = next(p for p in args.phases if p.database == kind and p.phase == "insert")
    assert big.imported is not None
    args.memory.append(Memory(kind, small_rows, small_kib, rows, big.imported.peak_rss_kib))


def sweep(bench: Bench, kind: str, insert: Path, args: argparse.Namespace) -> None:
    """The insert phase once per batch size, each into a fresh database."""
    for batch_size in args.sweep:
        with bench.database(kind) as url:
            checkpoint(kind)
            log(f"bench: {kind} insert, {args.rows:,} rows, --batch-size {batch_size}")
            imported = bench.import_file(url, insert, batch_size)
            log(f"bench:   {imported.seconds:.2f} s; it said: {imported.summary}")
            verify(url, insert, f"the import ({kind}, --batch-size {batch_size})")
            args.swept.append((kind, batch_size, imported))


# --- the report ----------------------------------------------------------------------------


def machine(postgres: bool) -> str:
    commit = subprocess.check_output(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], text=True)
    if subprocess.check_output(["git", "-C", REPO, "status", "--porcelain", ".", ":!bench"]):
        commit = commit.strip() + " + uncommitted changes"
    cpu = re.findall(r"model name\s*: (.*)", Path("/proc/cpuinfo").read_text()) or ["?"]
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20  # MemTotal, in kB
    version = _psql("SHOW server_version") if postgres else "not used"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit.strip()}; {cpu[0]}, "
        f"{os.cpu_count()} cores, {memory:.1f} GiB; Linux {platform.release()}; Python "
        f"{platform.python_version()}; PostgreSQL {version}; SQLite {sqlite3.sqlite_version}; "
        f"load average {Path('/proc/loadavg').read_text().rsplit(' ', 2)[0]}"
    )


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


def render(args: argparse.Namespace, about: str) -> str:
    batch = f"--batch-size {args.batch_size}" if args.batch_size else "its default batch size"
    lines = [
        f"### Import benchmark ({about.split(';')[0]})\n",
        f"`stockroom items import FILE --quiet --stock set` ({batch}) as a subprocess, "
        "wall time from start to exit (interpreter start included), against plain SQLAlchemy "
        f"Core `executemany` in chunks of {import_core.CHUNK:,} rows, one transaction per "
        "chunk, timed from opening the file to the last commit (no interpreter start). Each "
        "into a freshly migrated database of its own; every result checked against the file.\n",
        f"Machine: {about}.\n",
    ]
    if args.phases:
        lines += [
            "| database | phase | rows | process s | import s | import rows/s | Core s "
            f"| Core rows/s | ratio | ratio with the process's start | goal >= {GOAL_RATIO}x met |",
            "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
        ]
        for p in args.phases:
            core_rps = p.rows / p.core_seconds
            cells = ["", "", "", "", "", "not run"]
            if p.imported is not None:
                rps = p.rows / p.imported.work_seconds
                wall_rps = p.rows / p.imported.seconds
                cells = [
                    f"{p.imported.seconds:.2f}",
                    f"{p.imported.work_seconds:.2f}",
                    f"{rps:,.0f}",
                    f"{rps / core_rps:.2f}x",
                    f"{wall_rps / core_rps:.2f}x",
                    _yes(rps / core_rps >= GOAL_RATIO),
                ]
            lines.append(
                f"| {p.database} | {p.phase} | {p.rows:,} | {cells[0]} | {cells[1]} "
                f"| {cells[2]} | {p.core_seconds:.2f} | {core_rps:,.0f} | {cells[3]} "
                f"| {cells[4]} | {cells[5]} |"
            )
        lines.append("")
    if args.memory:
        lines += [
            "Peak RSS of the import subprocess (`wait4`'s `ru_maxrss`, from a small launcher):\n",
            f"| database | rows | peak RSS | rows | peak RSS | ratio | flat (<= {FLAT_RSS}x) |",
            "|---|--:|--:|--:|--:|--:|---|",
        ]
        for m in args.memory:
            ratio = m.kib / m.small_kib
            lines.append(
                f"| {m.database} | {m.small_rows:,} | {m.small_kib / 1024:.1f} MiB | {m.rows:,} "
                f"| {m.kib / 1024:.1f} MiB | {ratio:.2f}x | {_yes(ratio <= FLAT_RSS)} |"
            )
        lines.append("")
    if args.swept:
        lines += [
            f"Batch-size sweep: the insert phase, {args.rows:,} rows, a fresh database each:\n",
            "| database | --batch-size | seconds | rows/s | peak RSS |",
            "|---|--:|--:|--:|--:|",
        ]
        for kind, batch_size, imported in args.swept:
            lines.append(
                f"| {kind} | {batch_size:,} | {imported.seconds:.2f} "
                f"| {args.rows / imported.seconds:,.0f} "
                f"| {imported.peak_rss_kib / 1024:.1f} MiB |"
            )
        lines.append("")
    return "\n".join(lines)


# --- the command ---------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    sizes = [int(size) for size in text.split(",") if size.strip()]
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive batch sizes")
    return sizes


def _databases(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or set(names) - set(DATABASES):
        raise argparse.ArgumentTypeError(f"a comma-separated list of {', '.join(DATABASES)}")
    return [DATABASES[name] for name in names]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.import",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per file (100000)")
    parser.add_argument(
        "--databases",
        type=_databases,
        default=[SQLITE, PG],
        help="comma-separated: sqlite, postgresql (both)",
    )
    parser.add_argument(
        "--batch-size", type=int, help="passed to the import (default: the importer's own)"
    )
    parser.add_argument(
        "--sweep",
        type=_sizes,
        help="e.g. 100,500,1000,2000,5000: only the insert phase, once per batch size",
    )
    parser.add_argument(
        "--core-only",
        action="store_true",
        help="the Core baseline alone, without the importer (checks the harness)",
    )
    return parser


def main() -> int:
    args = _parser().parse_args()
    if args.rows < 10:
        _parser().error("--rows must be at least 10")
    if args.sweep and args.core_only:
        _parser().error("--sweep measures the importer: it cannot go with --core-only")
    args.phases, args.memory, args.swept = [], [], []
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-import-") as workdir:
        bench = Bench(Path(workdir))
        if not args.core_only and not bench.import_available():
            log(
                "bench: `stockroom items import` does not exist in this checkout (issue 16 "
                "not merged?): nothing to measure. `--core-only` runs the baseline alone."
            )
            return 1
        about = machine(PG in args.databases)
        log(f"bench: writing {args.rows:,} rows twice (insert.csv, update.csv)")
        files = write_files(bench.workdir, args.rows)
        for kind in args.databases:
            if args.sweep:
                sweep(bench, kind, files[0], args)
            else:
                measure(bench, kind, files, args)
    table = render(args, about)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    name = "import-sweep" if args.sweep else "import-core" if args.core_only else "import"
    (RESULTS / f"{name}.md").write_text(table + "\n")
    return 0
