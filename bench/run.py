"""One run of a plan: seed a template per database; then, every repetition, in rotating order,
start each target on a fresh copy of its template, probe, warm up, measure, stop it and drop
the copy; then pgbench runs the order transaction on copies of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench import wrk
from bench.cases import ADMIN_URL, DEFAULT_URLS, PG, SQLITE, Endpoint, Plan, Target
from bench.seed import ITEM_COUNT, Seeded, seed
from bench.server import Server, machine_busy_seconds

WORKERS = 2  # uvicorn workers per server: the machine's 2 cores
WARMUP_SECONDS = 1  # per endpoint, at the highest connection count, once per server start
PGBENCH_SQL = Path(__file__).with_name("pgbench_order.sql")
PGBENCH_URL = DEFAULT_URLS[PG].replace("+asyncpg", "")
PGBENCH_FIGURES = ("tps", "latency average", "number of failed transactions")


@dataclass(frozen=True)
class Case:
    target: Target
    endpoint: Endpoint
    connections: int
    wrk: wrk.WrkResult
    server_cpu: float  # seconds over the case, the uvicorn workers'
    machine_cpu: float  # every process on every core: wrk, PostgreSQL, the harness, others


@dataclass
class Results:
    plan: Plan
    machine: str
    cases: list[Case] = field(default_factory=list)
    rss: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)  # ready, warm, end
    pgbench: dict[int, list[tuple[float, float, int]]] = field(default_factory=dict)
    unit_suite: list[tuple[float, str]] = field(default_factory=list)  # wall s, pytest's summary
    json_keys: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    minutes: float = 0.0

    def cases_of(self, target: Target, endpoint: Endpoint, connections: int) -> list[Case]:
        wanted = (target.key, endpoint.label, connections)
        return [c for c in self.cases if (c.target.key, c.endpoint.label, c.connections) == wanted]


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _admin(statement: str) -> object:
    async def run() -> object:
        connection = await asyncpg.connect(ADMIN_URL)
        try:
            return await connection.fetchval(statement)
        finally:
            await connection.close()

    return asyncio.run(run())


class Run:
    def __init__(self, plan: Plan, repo: Path, workdir: Path) -> None:
        self.plan, self.repo, self.workdir = plan, repo, workdir
        self.cwd = workdir / "cwd"  # servers start in an empty directory: no .env file is read
        self.cwd.mkdir()
        # Only what the run sets: no STOCKROOM_* variable of the caller reaches a server.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKROOM_")}
        self.env |= {"STOCKROOM_SECRET_KEY": secrets.token_urlsafe(48), "PYTHONPATH": str(repo)}
        for name in ("POOL_SIZE", "POOL_MAX_OVERFLOW"):  # BENCH_POOL_*: one pool for everyone
            if (value := os.environ.get(f"BENCH_{name}")) is not None:
                self.env[f"STOCKROOM_{name}"] = value
        self.databases = {target.database for target in plan.targets} | ({PG} if plan.pgbench else set())
        self.results = Results(plan, self._machine())
        self.templates: dict[str, str] = {}  # PG: a database name; SQLite: a file path
        self.seeded: dict[str, Seeded] = {}

    def execute(self) -> Results:
        started = time.monotonic()
        try:
            self._time_unit_suite()
            for database in sorted(self.databases):
                self._seed(database)
            for repetition in range(self.plan.repetitions):
                log(f"bench: repetition {repetition + 1} of {self.plan.repetitions}")
                shift = repetition % len(self.plan.targets)  # no target always first, or last
                for target in self.plan.targets[shift:] + self.plan.targets[:shift]:
                    self._serve(target)
                if self.plan.pgbench:
                    self._pgbench()
        finally:
            if PG in self.templates:
                _admin(f'DROP DATABASE IF EXISTS "{self.templates[PG]}" WITH (FORCE)')
        self.results.minutes = (time.monotonic() - started) / 60
        return self.results

    def _machine(self) -> str:
        cpu = re.search(r"model name\s*: (.*)", Path("/proc/cpuinfo").read_text())
        memory = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20  # MemTotal, kB
        git = ["git", "-C", str(self.repo)]
        commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True)
        changed = subprocess.run(
            [*git, "status", "--porcelain", ".", ":!bench"], capture_output=True
        )
        return (
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit.stdout.decode().strip()}"
            f"{' + uncommitted changes' if changed.stdout else ''}; "
            f"{cpu[1] if cpu else '?'}, {os.cpu_count()} cores, {memory:.1f} GiB; "
            f"Linux {platform.release()}; Python {platform.python_version()}; PostgreSQL "
            f"{_admin('SHOW server_version') if PG in self.databases else 'not used'}; "
            f"SQLite {sqlite3.sqlite_version}; load average at start "
            + " ".join(Path("/proc/loadavg").read_text().split()[:3])
        )

    def _time_unit_suite(self) -> None:
        pytest = [str(self.repo / ".venv/bin/pytest"), "tests/unit", "-q", "-p", "no:cacheprovider"]
        for _ in range(self.plan.repetitions if self.plan.unit_suite else 0):
            started = time.monotonic()
            done = subprocess.run(pytest, cwd=self.repo, capture_output=True, text=True)
            summary = (done.stdout.strip().splitlines() or ["no output"])[-1]
            self.results.unit_suite.append((time.monotonic() - started, summary.strip("= ")))

    def _seed(self, database: str) -> None:
        if database == PG:
            self.templates[PG] = f"stockroom_bench_{secrets.token_hex(4)}"
            _admin(f'CREATE DATABASE "{self.templates[PG]}"')
        else:
            self.templates[SQLITE] = str(self.workdir / "template.db")
        url = DEFAULT_URLS[database].format(database=self.templates[database])
        log(f"bench: seeding {url}")
        sqlite_file = self.templates[database] if database == SQLITE else ""
        self.seeded[database] = seeded = seed(self.repo, self.env, url, sqlite_file)
        for index, endpoint in enumerate(self.plan.endpoints):
            lua = wrk.script(endpoint, seeded.token, ITEM_COUNT)
            (self.workdir / f"{database}-{index}.lua").write_text(lua)

    def _script(self, target: Target, endpoint: Endpoint) -> Path:
        return self.workdir / f"{target.database}-{self.plan.endpoints.index(endpoint)}.lua"

    @contextlib.contextmanager
    def _copy(self, database: str) -> Iterator[str]:
        """A fresh copy of the template: every target starts from the same rows, and none
        sees the orders another placed."""
        if database == PG:
            name = f"stockroom_bench_{secrets.token_hex(4)}"
            _admin(f'CREATE DATABASE "{name}" TEMPLATE "{self.templates[PG]}"')
            try:
                yield name
            finally:
                _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            path = self.workdir / f"copy-{secrets.token_hex(4)}.db"
            shutil.copyfile(self.templates[SQLITE], path)  # checkpointed: one file is all
            try:
                yield str(path)
            finally:
                for suffix in ("", "-wal", "-shm", "-writer.lock"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

    def _serve(self, target: Target) -> None:
        bin_dir = self.repo / ".venv/bin"
        argv = [str(bin_dir / "stockroom"), "serve"]
        if target.app != "stockroom":
            argv = [str(bin_dir / "python"), "-m", "bench.baselines", target.app]
        with self._copy(target.database) as database:
            env = self.env | target.env | {"STOCKROOM_DATABASE_URL": target.database_url(database)}
            log_file = self.workdir / f"{target.app}-{database.rsplit('/', 1)[-1]}.log"
            with Server([*argv, "--workers", str(WORKERS)], env, self.cwd, log_file) as server:
                server.wait_ready("/items/1", WORKERS)
                ready = server.rss()
                for endpoint in self.plan.endpoints:
                    self._probe(server, target, endpoint)
                for endpoint in self.plan.endpoints:
                    script = self._script(target, endpoint)
                    wrk.run(server.url, script, max(self.plan.connections), WARMUP_SECONDS)
                warm = server.rss()
                for endpoint in self.plan.endpoints:
                    for connections in self.plan.connections:
                        self._measure(server, target, endpoint, connections)
                self.results.rss.setdefault(target.key, []).append((ready, warm, server.rss()))

    def _probe(self, server: Server, target: Target, endpoint: Endpoint) -> None:
        """One request as wrk sends it (for item 1): a wrong status stops the run; the JSON
        keys are kept for the report to compare with Stockroom's."""
        request = urllib.request.Request(
            server.url + endpoint.render(endpoint.path, 1),
            method=endpoint.method,
            data=endpoint.render(endpoint.body, 1).encode() or None,
            headers=endpoint.headers(self.seeded[target.database].token),
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, body = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read().decode(errors="replace")
        if status != endpoint.status:
            raise RuntimeError(
                f"{target.key}: {endpoint.label} answered {status}, expected {endpoint.status}: "
                f"{str(body)[:300]}\n{server.log_tail()}"
            )
        sample = body[0] if isinstance(body, list) and body else body
        keys = tuple(sorted(sample)) if isinstance(sample, dict) else ()
        self.results.json_keys[target.key, endpoint.label] = keys

    def _measure(self, server: Server, target: Target, endpoint: Endpoint, conns: int) -> None:
        server_cpu, machine_cpu = server.cpu_seconds(), machine_busy_seconds()
        result = wrk.run(server.url, self._script(target, endpoint), conns, self.plan.seconds)
        server_cpu, machine_cpu = (
            server.cpu_seconds() - server_cpu,
            machine_busy_seconds() - machine_cpu,
        )
        self.results.cases.append(Case(target, endpoint, conns, result, server_cpu, machine_cpu))
        log(
            f"{target.key:30} {endpoint.label:20} c={conns:<3} {result.rps:7.0f} req/s  "
            f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
        )

    def _pgbench(self) -> None:
        """The database's own limit: the order transaction, same client counts, fresh rows."""
        for clients in self.plan.connections:
            with self._copy(PG) as database:
                argv = ["pgbench", "--no-vacuum", "--protocol=prepared", f"--file={PGBENCH_SQL}"]
                argv += [f"--client={clients}", "--jobs=2", f"--time={self.plan.seconds}"]
                argv += [
                    f"--define=customer={self.seeded[PG].customer_id}",
                    "--define=status=placed",
                ]
                argv += [f"--define=items={ITEM_COUNT}", PGBENCH_URL.format(database=database)]
                out = subprocess.run(argv, capture_output=True, text=True).stdout
            found = [
                re.search(rf"^{name}:? =? ?([\d.]+)", out, re.MULTILINE) for name in PGBENCH_FIGURES
            ]
            if not all(found):
                raise RuntimeError(f"pgbench failed:\n{out}")
            tps, latency, failed = (float(match[1]) for match in found if match)
            self.results.pgbench.setdefault(clients, []).append((tps, latency, int(failed)))
            log(f"pgbench order transaction c={clients}: {tps:,.0f} tps, {latency:.1f} ms average")
