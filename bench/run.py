"""One run of a plan: seed a template per database; then, every repetition, in rotating order,
start each target on a fresh copy of its template, probe it, warm it up, measure every case,
stop it and drop the copy; pgbench runs the order transaction on copies of its own."""

import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import pgbouncer, replicas, wrk
from bench.cases import (
    ADMIN_URLS,
    DEFAULT_URLS,
    PG,
    PG_SERVER,
    REPLICATED,
    SQLITE,
    Endpoint,
    Plan,
    Target,
)
from bench.seed import ITEM_COUNT, Seeded, seed
from bench.server import Server
from bench.wrk import WrkResult

WORKERS = 2  # uvicorn workers per server, as many as the machine's cores
WARMUP_SECONDS = 1  # per endpoint, at the highest connection count, after each server start
PGBENCH = ["pgbench", "--no-vacuum", "--protocol=prepared", "--jobs=2", "--define=status=placed"]
PGBENCH += [f"--define=items={ITEM_COUNT}", f"--file={Path(__file__).parent}/pgbench_order.sql"]
PGBENCH_FIGURES = ("tps", "latency average", "number of failed transactions")


@dataclass
class Results:
    plan: Plan
    machine: str  # date; commit; CPU, memory; versions; load average at the start and end
    wrk: dict[tuple[str, str, int], list[WrkResult]] = field(default_factory=dict)
    rss_mib: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # warm, end
    pgbench: dict[int, list[tuple[float, float, float]]] = field(default_factory=dict)

    def of(self, target: Target, endpoint: Endpoint, connections: int) -> list[WrkResult]:
        return self.wrk.get((target.key, endpoint.label, connections), [])


def _load_average() -> str:  # a busy machine disturbs the figures: the report shows it
    return Path("/proc/loadavg").read_text().rsplit(" ", 2)[0]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _psql(statement: str, admin_url: str = ADMIN_URLS[PG]) -> str:
    """One statement as the admin user (an error shows on stderr and stops the run)."""
    argv = ["psql", admin_url, "-qAtc", statement]
    return subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()


def _machine(repo: Path, postgres: bool) -> str:
    commit = subprocess.check_output(["git", "-C", repo, "rev-parse", "--short", "HEAD"], text=True)
    if subprocess.check_output(["git", "-C", repo, "status", "--porcelain", ".", ":!bench"]):
        commit = commit.strip() + " + uncommitted changes"
    cpu = re.findall(r"model name\s*: (.*)", Path("/proc/cpuinfo").read_text()) or ["?"]
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 2**20  # MemTotal, in kB
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit.strip()}; {cpu[0]}, "
        f"{os.cpu_count()} cores, {memory:.1f} GiB; Linux {platform.release()}; Python "
        f"{platform.python_version()}; PostgreSQL "
        f"{_psql('SHOW server_version') if postgres else 'not used'}; SQLite "
        f"{sqlite3.sqlite_version}; load average at the start {_load_average()}"
    )


class Run:
    def __init__(self, plan: Plan, repo: Path, workdir: Path) -> None:
        self.plan, self.repo, self.workdir = plan, repo, workdir
        self.cwd = workdir / "cwd"  # servers start in an empty directory: no .env file is read
        self.cwd.mkdir()
        # The run's own settings only: no STOCKROOM_* variable of the caller reaches a server.
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STOCKROOM_")}
        self.env |= {"STOCKROOM_SECRET_KEY": secrets.token_urlsafe(48), "PYTHONPATH": str(repo)}
        # The seeded customer's token lives a day (a run is far shorter), and every server must
        # accept that lifetime: Stockroom refuses a token that lives longer than it would issue.
        self.env["STOCKROOM_TOKEN_LIFETIME_MINUTES"] = str(24 * 60)
        for name in ("POOL_SIZE", "POOL_MAX_OVERFLOW"):  # BENCH_POOL_*: one pool for everyone
            if (value := os.environ.get(f"BENCH_{name}")) is not None:
                self.env[f"STOCKROOM_{name}"] = value
        wanted = {target.database for target in plan.targets}
        self.databases = sorted(wanted | {PG} if plan.pgbench else wanted)
        self.results = Results(plan, _machine(repo, PG in self.databases))
        self.templates: dict[str, str] = {}  # PG: a database name; SQLite: a file path
        self.seeded: dict[str, Seeded] = {}
        self.scripts: dict[tuple[str, str], Path] = {}  # (database, endpoint): its wrk script
        self.ports: dict[str, int] = {}  # the run's own servers: pgbouncer, primary, replica

    def execute(self) -> Results:
        with contextlib.ExitStack() as stack:
            if any(target.pooled for target in self.plan.targets):
                self.ports["pgbouncer"] = stack.enter_context(pgbouncer.running())
            if REPLICATED in self.databases:
                self.ports["primary"], self.ports["replica"] = stack.enter_context(
                    replicas.running()
                )
            return self._execute()

    def _admin(self, statement: str, database: str) -> str:
        return _psql(statement, ADMIN_URLS[database].format(**self.ports))

    def _execute(self) -> Results:
        try:
            for database in self.databases:
                self._seed(database)
            for repetition in range(self.plan.repetitions):
                log(f"bench: repetition {repetition + 1} of {self.plan.repetitions}")
                shift = repetition % len(self.plan.targets)  # no target always first, or last
                for target in self.plan.targets[shift:] + self.plan.targets[:shift]:
                    self._serve(target)
                for clients in self.plan.connections if self.plan.pgbench else ():
                    self._pgbench(clients)
        finally:
            for database in (PG, REPLICATED):
                if database in self.templates:
                    drop = f'DROP DATABASE IF EXISTS "{self.templates[database]}" WITH (FORCE)'
                    self._admin(drop, database)
        self.results.machine += f", at the end {_load_average()}"
        return self.results

    def _seed(self, database: str) -> None:
        template = f"stockroom_bench_{secrets.token_hex(4)}"
        if database != SQLITE:
            self._admin(f'CREATE DATABASE "{template}"', database)
        else:
            template = str(self.workdir / "template.db")
        self.templates[database] = template
        url = DEFAULT_URLS[database].format(database=template, **self.ports)
        log(f"bench: seeding {url}")
        seeded = self.seeded[database] = seed(self.repo, self.env, url, template)
        for index, endpoint in enumerate(self._endpoints(database)):
            script = self.workdir / f"{database.replace(' ', '_')}{index}.lua"
            script.write_text(wrk.script(endpoint, seeded.token, ITEM_COUNT))
            self.scripts[database, endpoint.label] = script

    @contextlib.contextmanager
    def _copy(self, database: str) -> Iterator[str]:
        """A fresh copy of the template: every target starts from the same rows, and none
        sees the orders another placed."""
        copy = f"stockroom_bench_{secrets.token_hex(4)}"
        if database != SQLITE:
            self._admin(f'CREATE DATABASE "{copy}" TEMPLATE "{self.templates[database]}"', database)
        else:
            copy = str(self.workdir / f"{copy}.db")
            shutil.copyfile(self.templates[SQLITE], copy)  # checkpointed: the file is all
        try:
            yield copy
        finally:
            if database != SQLITE:
                self._admin(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)', database)
            else:
                for suffix in ("", "-wal", "-shm", "-writer.lock"):
                    Path(f"{copy}{suffix}").unlink(missing_ok=True)

    def _serve(self, target: Target) -> None:
        venv = self.repo / ".venv/bin"
        argv = [venv / "stockroom", "serve"]
        if target.app != "stockroom":
            argv = [venv / "python", "-m", "bench.baselines", target.app]
        with self._copy(target.database) as database:
            env = self.env | target.settings(database, self.ports)
            log_file = self.workdir / f"{target.app}-{target.server}-{Path(database).name}.log"
            argv += ["--workers", str(WORKERS), "--server", target.server]
            with Server(argv, env, self.cwd, log_file) as server:
                server.wait_ready("/items/1", WORKERS)
                for endpoint in self._endpoints(target.database):
                    self._probe(server, target, endpoint)
                for endpoint in self._endpoints(target.database):
                    script = self.scripts[target.database, endpoint.label]
                    wrk.run(server.url, script, max(self.plan.connections), WARMUP_SECONDS)
                warm = sum(server.workers_rss_kib()) / 1024
                for endpoint in self._endpoints(target.database):
                    for connections in self.plan.connections:
                        self._measure(server, target, endpoint, connections)
                end = sum(server.workers_rss_kib()) / 1024
                self.results.rss_mib.setdefault(target.key, []).append((warm, end))

    def _endpoints(self, database: str) -> list[Endpoint]:
        return [endpoint for endpoint in self.plan.endpoints if database in endpoint.databases]

    def _probe(self, server: Server, target: Target, endpoint: Endpoint) -> None:
        """One request as wrk sends it, for item 1: the status and the JSON keys must be the
        endpoint's, else the run stops (every comparator must answer alike)."""
        url = server.url + endpoint.render(endpoint.path, 1)
        body = endpoint.render(endpoint.body, 1).encode() or None
        headers = endpoint.headers(self.seeded[target.database].token)
        try:
            request = urllib.request.Request(url, body, headers, method=endpoint.method)
            with urllib.request.urlopen(request, timeout=10) as response:
                status, answer = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        sample = answer[0] if isinstance(answer, list) and answer else answer
        keys = " ".join(sorted(sample)) if isinstance(sample, dict) else str(answer)[:300]
        if (status, keys) != (endpoint.status, endpoint.keys):
            raise RuntimeError(
                f"{target.key}: {endpoint.label} answered {status} {keys}, expected "
                f"{endpoint.status} {endpoint.keys}\n{server.log_tail()}"
            )

    def _measure(self, server: Server, target: Target, endpoint: Endpoint, conns: int) -> None:
        script = self.scripts[target.database, endpoint.label]
        result = wrk.run(server.url, script, conns, self.plan.seconds)
        self.results.wrk.setdefault((target.key, endpoint.label, conns), []).append(result)
        ms = {name: getattr(result, name) / 1000 for name in ("p50", "p90", "p99", "p999", "max")}
        log(
            f"{target.key:30} {endpoint.label:20} c={conns:<3} {result.rps:7.0f} req/s  p50 "
            f"{ms['p50']:6.1f} ms  p90 {ms['p90']:6.1f}  p99 {ms['p99']:6.1f}  p99.9 "
            f"{ms['p999']:6.1f}  max {ms['max']:6.1f}  errors {result.errors}"
        )

    def _pgbench(self, clients: int) -> None:
        """The database's own limit: the order transaction, as many clients, fresh rows."""
        options = [f"--client={clients}", f"--time={self.plan.seconds}"]
        options += [f"--define=customer={self.seeded[PG].customer_id}"]
        with self._copy(PG) as database:
            argv = [*PGBENCH, *options, f"{PG_SERVER}/{database}"]
            out = subprocess.run(argv, capture_output=True, text=True)
        found = dict(re.findall(rf"^({'|'.join(PGBENCH_FIGURES)})\D*([\d.]+)", out.stdout, re.M))
        if out.returncode or len(found) < len(PGBENCH_FIGURES):
            raise RuntimeError(f"pgbench failed:\n{out.stdout}{out.stderr}")
        tps, latency, failed = (float(found[name]) for name in PGBENCH_FIGURES)
        self.results.pgbench.setdefault(clients, []).append((tps, latency, failed))
        log(f"pgbench order transaction c={clients}: {tps:,.0f} tps, {latency:.1f} ms average")
