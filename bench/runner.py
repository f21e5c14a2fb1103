"""Runs a plan: seed once per backend, then for every repetition start each comparator on a
fresh copy of the same rows, warm it up, measure every case, stop it, and drop the copy."""

from __future__ import annotations

import os
import secrets
import tempfile
import time
from pathlib import Path

from bench import databases, endpoints, pgbench, procs, seed, unit_suite
from bench.machine import code_version, describe, load_average
from bench.plans import Plan
from bench.results import Results
from bench.session import Backend, Workspace, log, run_session
from bench.targets import POSTGRES

BUSY_CORES = 0.25  # cores in use before the run above which it is flagged as disturbed


def _busy_cores(seconds: float) -> float:
    before = procs.machine_busy_seconds()
    time.sleep(seconds)
    return (procs.machine_busy_seconds() - before) / seconds


class Runner:
    def __init__(self, plan: Plan, repo: Path) -> None:
        self.plan = plan
        self.repo = repo
        self.secret = secrets.token_urlsafe(48)
        self.pg = databases.PgServer.from_admin_url()
        self.results = Results(plan=plan, machine={})
        self.backends: dict[str, Backend] = {}

    def run(self) -> Results:
        started = time.monotonic()
        log(f"bench: plan {self.plan.name}, about {self.plan.estimated_seconds() / 60:.1f} min")
        self.results.machine = describe(self.repo, postgres=self.plan.needs_postgres)
        busy = _busy_cores(seconds=2.0)
        if busy > BUSY_CORES:
            warning = (
                f"the machine was busy when the run started ({busy:.2f} of {os.cpu_count()} "
                "cores in use before any server started): figures will be disturbed"
            )
            self.results.notes.append(warning)
            log("bench: warning: " + warning)
        with tempfile.TemporaryDirectory(prefix="stockroom-bench-") as tmp:
            self.space = Workspace(
                self.plan, self.repo, Path(tmp), self.secret, self.pg, self.results
            )
            try:
                self._unit_suite()
                self._seed()
                for repetition in range(self.plan.repetitions):
                    self._repetition(repetition)
            finally:
                if self.space.databases:
                    databases.drop_pg(*self.space.databases)
        self.results.elapsed_seconds = time.monotonic() - started
        self.results.machine["load average at end"] = load_average()
        if (now := code_version(self.repo)) != self.results.machine["commit"]:
            self.results.notes.append(
                f"the code changed during the run (start: {self.results.machine['commit']}, "
                f"end: {now}): later server starts ran different code; rerun on a quiet tree"
            )
        return self.results

    def _unit_suite(self) -> None:
        for _ in range(self.plan.repetitions if self.plan.unit_suite else 0):
            result = unit_suite.run(self.repo)
            log(
                f"unit suite: {result.passed} passed, {result.failed} failed, "
                f"{result.wall_seconds:.2f}s wall"
            )
            self.results.unit_suite.append(result)

    def _seed(self) -> None:
        kinds = {target.backend for target in self.plan.targets}
        if self.plan.pgbench:
            kinds.add(POSTGRES)
        for kind in sorted(kinds):
            if kind == POSTGRES:
                template = databases.new_name()
                databases.create_pg(template)
                self.space.databases.append(template)
                url = self.pg.url(template)
            else:
                template = str(self.space.workdir / "template.db")
                url = databases.sqlite_url(Path(template))
            log(f"seeding {kind} ({url})")
            seeded = seed.seed(
                url,
                self.secret,
                self.repo,
                require_orders=self.plan.needs_orders,
            )
            scripts = endpoints.write_scripts(
                self.space.mkdir(kind), seeded.item_count, seeded.token
            )
            self.backends[kind] = Backend(kind, seeded, scripts, template)

    def _repetition(self, repetition: int) -> None:
        # Rotate the order each repetition: no comparator always runs first (or last).
        shift = repetition % len(self.plan.targets)
        order = self.plan.targets[shift:] + self.plan.targets[:shift]
        for target in order:
            run_session(self.space, target, self.backends[target.backend], repetition)
        if self.plan.pgbench:
            self._pgbench(repetition)

    def _pgbench(self, repetition: int) -> None:
        backend = self.backends[POSTGRES]
        for clients in self.plan.connections:
            with self.space.fresh_database(backend, f"pgbench-{repetition}") as database:
                result = pgbench.run(
                    self.pg,
                    database,
                    clients=clients,
                    seconds=self.plan.seconds,
                    customer_id=backend.seeded.customer_id,
                    item_count=backend.seeded.item_count,
                )
            self.results.pgbench.append(result)
            log(
                f"[{repetition + 1}/{self.plan.repetitions}] pgbench order transaction "
                f"c={clients}: {result.tps:.0f} tps, {result.latency_ms:.1f} ms avg, "
                f"{result.failed} failed"
            )
