"""One run of a plan: seed a template per database; then, every repetition, in rotating order,
start each target on a fresh copy of its template, probe it, warm it up, measure every case,
stop it and drop the copy."""

import contextlib
import http.server
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

from bench import replicas, wrk
from bench.cases import ADMIN_URLS, OWN_PRIMARY, PG, SQLITE, URLS, Endpoint, Plan, Target
from bench.seed import ITEM_COUNT, seed
from bench.server import Server
from bench.wrk import WrkResult

WORKERS = 2  # uvicorn workers per server, as many as the machine's cores
WARMUP_SECONDS = 1  # per endpoint, at the highest connection count, after each server start


@dataclass
class Results:
    plan: Plan
    machine: str  # date, commit, CPU, versions, load average at the start and the end
    wrk: dict[tuple[str, str, int], list[WrkResult]] = field(default_factory=dict)
    minutes: float = 0.0  # the whole run
    exported: int = 0  # bytes of spans the tracing target sent to the run's sink

    def median(self, key: str, endpoint: Endpoint, conns: int, figure: str) -> float | None:
        """The median over the repetitions of ``figure`` (rps, p50, p99) of one case."""
        runs = self.wrk.get((key, endpoint.label, conns), [])
        return median(getattr(run, figure) for run in runs) if runs else None


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _psql(statement: str, admin_url: str) -> str:
    """One statement as the admin user (an error shows on stderr and stops the run)."""
    argv = ["psql", admin_url, "-qAtc", statement]
    return subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=True).stdout.strip()


def _machine(repo: Path, postgres: bool) -> str:
    commit = subprocess.check_output(["git", "-C", repo, "rev-parse", "--short", "HEAD"], text=True)
    if subprocess.check_output(["git", "-C", repo, "status", "--porcelain", ".", ":!bench"]):
        commit = commit.strip() + " + uncommitted changes"
    cpu = re.findall(r"model name\s*: (.*)", Path("/proc/cpuinfo").read_text()) or ["?"]
    version = _psql("SHOW server_version", ADMIN_URLS[PG]) if postgres else "not used"
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; commit {commit.strip()}; {cpu[0]}, "
        f"{os.cpu_count()} cores; Linux {platform.release()}; Python "
        f"{platform.python_version()}; PostgreSQL {version}; load average at the start "
        f"{os.getloadavg()[0]:.2f}"
    )


@contextlib.contextmanager
def otlp_sink() -> Iterator[tuple[int, list[int]]]:
    """An OTLP/HTTP collector that only answers 200 to each export: spans are built,
    serialised and sent as with a real one. Its port, and the bytes it received so far."""
    received = [0]

    class Sink(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received[0] += len(self.rfile.read(int(self.headers["Content-Length"] or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:  # quiet
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


class Run:
    def __init__(self, plan: Plan, repo: Path, workdir: Path) -> None:
        self.plan, self.repo, self.workdir = plan, repo, workdir
        self.cwd = workdir / "cwd"  # servers start in an empty directory: no .env file is read
        self.cwd.mkdir()
        # Nothing of the caller's STOCKROOM_* or OTEL_* reaches a server: only the run's own.
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("STOCKROOM_", "OTEL_"))
        }
        self.env |= {"STOCKROOM_SECRET_KEY": secrets.token_urlsafe(48), "PYTHONPATH": str(repo)}
        # The seeded customer's token lives a day (a run is far shorter), and every server must
        # accept that lifetime: Stockroom refuses a token that lives longer than it would issue.
        self.env["STOCKROOM_TOKEN_LIFETIME_MINUTES"] = str(24 * 60)
        for name in ("POOL_SIZE", "POOL_MAX_OVERFLOW"):  # BENCH_POOL_*: one pool for everyone
            if (value := os.environ.get(f"BENCH_{name}")) is not None:
                self.env[f"STOCKROOM_{name}"] = value
        self.databases = sorted({target.database for target in plan.targets})
        self.results = Results(plan, _machine(repo, self.databases != [SQLITE]))
        self.templates: dict[str, str] = {}  # PG: a database name; SQLite: a file path
        self.tokens: dict[str, str] = {}  # the seeded customer's, per database
        self.scripts: dict[tuple[str, str], Path] = {}  # (database, endpoint): its wrk script
        self.ports: dict[str, int] = {}  # the run's own servers: otlp, primary, replica

    def execute(self) -> Results:
        started = time.monotonic()
        with contextlib.ExitStack() as stack:
            self.ports["otlp"], exported = stack.enter_context(otlp_sink())
            if OWN_PRIMARY in self.databases:
                ports = stack.enter_context(replicas.running())
                self.ports["primary"], self.ports["replica"] = ports
            stack.callback(self._drop_templates)
            for database in self.databases:
                self._seed(database)
            for repetition in range(self.plan.repetitions):
                log(f"bench: repetition {repetition + 1} of {self.plan.repetitions}")
                shift = repetition % len(self.plan.targets)  # no target always first, or last
                for target in self.plan.targets[shift:] + self.plan.targets[:shift]:
                    self._serve(target)
            self.results.exported = exported[0]
        self.results.minutes = (time.monotonic() - started) / 60
        self.results.machine += f", at the end {os.getloadavg()[0]:.2f}"
        return self.results

    def _admin(self, statement: str, database: str) -> str:
        return _psql(statement, ADMIN_URLS[database].format(**self.ports))

    def _drop_templates(self) -> None:
        for database, template in self.templates.items():
            if database != SQLITE:
                self._admin(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)', database)

    def _seed(self, database: str) -> None:
        template = f"stockroom_bench_{secrets.token_hex(4)}"
        if database != SQLITE:
            self._admin(f'CREATE DATABASE "{template}"', database)
        else:
            template = str(self.workdir / "template.db")
        self.templates[database] = template
        url = URLS[database].format(database=template, **self.ports)
        log(f"bench: seeding {url}")
        self.tokens[database] = token = seed(self.repo, self.env, url, template).token
        for index, endpoint in enumerate(self.plan.endpoints):
            script = self.workdir / f"{database.replace(' ', '_')}{index}.lua"
            script.write_text(wrk.script(endpoint, token, ITEM_COUNT))
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
        argv = [str(venv / "stockroom"), "serve"]
        if target.app != "stockroom":
            argv = [str(venv / "python"), "-m", "bench.baselines", target.app]
        with self._copy(target.database) as database:
            env = self.env | target.environment(database, self.ports)
            log_file = self.workdir / f"{target.app}-{Path(database).name}.log"
            argv += ["--workers", str(WORKERS)]
            with Server(argv, env, self.cwd, log_file) as server:
                server.wait_ready("/items/1", WORKERS)
                for endpoint in self.plan.endpoints:
                    self._probe(server, target, endpoint)
                for endpoint in self.plan.endpoints:
                    script = self.scripts[target.database, endpoint.label]
                    wrk.run(server.url, script, max(self.plan.connections), WARMUP_SECONDS)
                for endpoint in self.plan.endpoints:
                    for connections in self.plan.connections:
                        self._measure(server, target, endpoint, connections)

    def _probe(self, server: Server, target: Target, endpoint: Endpoint) -> None:
        """One request as wrk sends it, for item 1: the status and the JSON keys must be the
        endpoint's, else the run stops (every target must answer alike)."""
        url = server.url + endpoint.render(endpoint.path, 1)
        body = endpoint.render(endpoint.body, 1).encode() or None
        headers = endpoint.headers(self.tokens[target.database])
        try:
            request = urllib.request.Request(url, body, headers, method=endpoint.method)
            with urllib.request.urlopen(request, timeout=10) as response:
                status, answer = response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            status, answer = error.code, error.read()
        keys = " ".join(sorted(answer)) if isinstance(answer, dict) else str(answer)[:300]
        if (status, keys) != (endpoint.status, endpoint.keys):
            raise RuntimeError(
                f"{target.key}: {endpoint.label} answered {status} {keys}, expected "
                f"{endpoint.status} {endpoint.keys}\n{server.log_tail()}"
            )

    def _measure(self, server: Server, target: Target, endpoint: Endpoint, conns: int) -> None:
        script = self.scripts[target.database, endpoint.label]
        result = wrk.run(server.url, script, conns, self.plan.seconds)
        self.results.wrk.setdefault((target.key, endpoint.label, conns), []).append(result)
        log(
            f"{target.key:50.50} {endpoint.label:16} c={conns:<3} {result.rps:6.0f} req/s  "
            f"p50 {result.p50 / 1000:6.1f} ms  p99 {result.p99 / 1000:6.1f}  "
            f"errors {result.errors}"
        )
