"""One server session: a fresh copy of the rows, the server started on it, one probe per
endpoint, the warm-up, every measured case, the server stopped and the copy dropped."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import databases, endpoints, procs, seed, wrk
from bench.plans import Plan
from bench.results import Case, Results, ServerRun
from bench.targets import POSTGRES, Target


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Backend:
    """A seeded template of one database kind, and the wrk scripts that carry its token."""

    kind: str
    seeded: seed.Seeded
    scripts: dict[str, Path]
    template: str  # PostgreSQL: database name; SQLite: file path


@dataclass
class Workspace:
    """What every session of one run shares."""

    plan: Plan
    repo: Path
    workdir: Path
    secret: str
    pg: databases.PgServer
    results: Results
    databases: list[str] = field(default_factory=list)  # still to drop if the run dies

    def mkdir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir(exist_ok=True)
        return path

    @contextlib.contextmanager
    def fresh_database(self, backend: Backend, label: str) -> Iterator[str]:
        """A copy of the template: a PostgreSQL database name, or a SQLite file path."""
        if backend.kind == POSTGRES:
            name = databases.new_name()
            databases.create_pg(name, template=backend.template)
            self.databases.append(name)
            try:
                yield name
            finally:
                databases.drop_pg(name)
                self.databases.remove(name)
        else:
            path = self.workdir / f"{label}.db"
            databases.copy_sqlite(Path(backend.template), path)
            try:
                yield str(path)
            finally:
                for suffix in ("", "-wal", "-shm", "-writer.lock"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)

    def server_env(self, database_url: str) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
        env.update(
            STOCKROOM_DATABASE_URL=database_url,
            STOCKROOM_SECRET_KEY=self.secret,
            PYTHONPATH=str(self.repo),  # the baselines import bench.baselines from the repo
        )
        # One pool for every comparator, when asked for (BENCH_POOL_SIZE=10
        # BENCH_POOL_MAX_OVERFLOW=0): otherwise each keeps the pool its pattern ships with.
        for name in ("POOL_SIZE", "POOL_MAX_OVERFLOW"):
            if (value := os.environ.get(f"BENCH_{name}")) is not None:
                env[f"STOCKROOM_{name}"] = value
        return env


def run_session(space: Workspace, target: Target, backend: Backend, repetition: int) -> None:
    label = f"{target.comparator}-{target.backend}-{repetition}"
    plan = space.plan
    with space.fresh_database(backend, label) as database:
        is_pg = backend.kind == POSTGRES
        url = space.pg.url(database) if is_pg else databases.sqlite_url(Path(database))
        port = procs.free_port()
        server = procs.start_server(
            target.key,
            target.argv(space.repo, port, plan.workers),
            space.server_env(url),
            port,
            space.workdir / f"{label}.log",
            cwd=space.mkdir("cwd"),  # no .env file of the repo's leaks into one server
        )
        with procs.running(server):
            procs.wait_ready(server, "/items/1", plan.workers)
            _measure(space, server, target, backend, repetition, database if is_pg else None)


def _measure(
    space: Workspace,
    server: procs.Server,
    target: Target,
    backend: Backend,
    repetition: int,
    database: str | None,
) -> None:
    plan = space.plan
    rss_start = server.rss()
    for key in plan.endpoints:
        _probe(space.results, server, target, backend, key)
    for key in plan.endpoints:  # warm-up: every endpoint at the highest concurrency
        wrk.run(
            server.url,
            backend.scripts[key],
            connections=max(plan.connections),
            seconds=plan.warmup_seconds,
            threads=plan.wrk_threads,
        )
    rss_warm = server.rss()
    for key in plan.endpoints:
        for connections in plan.connections:
            case = _case(space, server, target, backend, key, connections, repetition, database)
            space.results.cases.append(case)
            log(_describe(case, plan))
    run = ServerRun(target.key, repetition, rss_start, rss_warm, server.rss())
    space.results.servers.append(run)


def _case(
    space: Workspace,
    server: procs.Server,
    target: Target,
    backend: Backend,
    key: str,
    connections: int,
    repetition: int,
    database: str | None,
) -> Case:
    server_cpu, busy = server.cpu(), procs.machine_busy_seconds()
    pg_before = procs.postgres_cpu(database)
    result = wrk.run(
        server.url,
        backend.scripts[key],
        connections=connections,
        seconds=space.plan.seconds,
        threads=space.plan.wrk_threads,
    )
    return Case(
        target.key,
        key,
        connections,
        repetition,
        result,
        server_cpu_seconds=server.cpu() - server_cpu,
        postgres_cpu_seconds=procs.cpu_delta(pg_before, procs.postgres_cpu(database)),
        machine_cpu_seconds=procs.machine_busy_seconds() - busy,
    )


def _describe(case: Case, plan: Plan) -> str:
    result = case.wrk
    return (
        f"[{case.repetition + 1}/{plan.repetitions}] {case.target:28} "
        f"{endpoints.BY_KEY[case.endpoint].label:22} c={case.connections:<3} "
        f"{result.rps:8.0f} req/s  p50 {result.p50_ms:6.1f} ms  "
        f"p99 {result.p99_ms:6.1f} ms  errors {result.errors}"
        f"{f' ({result.non_2xx} non-2xx, {result.timeouts} timeouts)' if result.errors else ''}  "
        f"wrk cpu {result.cpu_percent:3.0f}%  server cpu {case.server_cpu_percent:3.0f}%  "
        f"pg cpu {case.postgres_cpu_percent:3.0f}%  other cpu {case.other_cpu_percent:3.0f}%"
    )


def _probe(
    results: Results, server: procs.Server, target: Target, backend: Backend, key: str
) -> None:
    """One request first: the right status (else the run stops) and the JSON keys, which the
    report compares with Stockroom's."""
    endpoint = endpoints.BY_KEY[key]
    status, body = endpoint.probe(server.url, backend.seeded.token)
    if status != endpoint.expected_status:
        raise RuntimeError(
            f"{target.key}: {endpoint.label} answered {status}, expected "
            f"{endpoint.expected_status}: {str(body)[:500]}\n{server.log_tail()}"
        )
    sample = body[0] if isinstance(body, list) and body else body
    keys = tuple(sorted(sample)) if isinstance(sample, dict) else ()
    results.response_keys[(target.key, key)] = keys
