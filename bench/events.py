"""``python -m bench.events`` (``make bench-events``): what issue 25's events cost, one run.

1. ``POST /orders/`` with the transactional outbox against without it (``bench/events_serve.py``
   switches it off in the server process only), same harness as ``make bench`` (``run.py``:
   fresh copy of a seeded template per server start, 2 workers, wrk, targets in rotating
   order), on PostgreSQL and SQLite; plus Stockroom with the relay to NATS running (a
   ``stockroom relay`` process beside the server): its POST figures, and how long each event
   of that load waited in the outbox (``published_at - occurred_at`` of every row the load
   wrote, read from the copy before it is dropped).
2. The drain: 100,000 unsent rows relayed to JetStream (``bench/events_drain.py``), events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import nats
from sqlalchemy import select

from adapters.database import Database
from adapters.orm import outbox
from bench import events_drain, wrk
from bench.cases import PG, POST_ORDER, SQLITE, URLS, Endpoint, Plan, Target
from bench.events_drain import NATS_URL, drain, throwaway_database
from bench.run import WARMUP_SECONDS, WORKERS, Results, Run, log
from bench.server import Server
from service_layer.relay import RelayPolicy

BENCH = Path(__file__).resolve().parent
WITH, WITHOUT, RELAYED = "with the outbox", "without the outbox", "with the outbox + relay to NATS"
NO_OUTBOX_APP = "no-outbox"  # served by bench/events_serve.py
DRAIN_EVENTS = 100_000
# make bench's purchase, with the answer's keys of today (issue 24 added the currency).
ORDER = dataclasses.replace(
    POST_ORDER, keys="created_at currency customer_id id lines status total updated_at"
)


@dataclass
class Lag:
    """Seconds from an event's occurrence (inside its unit, before COMMIT) to its mark as
    published (after JetStream's acknowledgement), over every event the load wrote."""

    events: int
    p50: float
    p99: float
    worst: float


def _cpu_seconds() -> tuple[float, float]:
    """The machine's CPU seconds so far (``/proc/stat``, all cores): busy (every state but
    idle, iowait and steal) and stolen (what the hypervisor gave other guests meanwhile)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    hz = os.sysconf("SC_CLK_TCK")
    return (user + nice + system + irq + softirq) / hz, steal / hz


@dataclass
class Cpu:
    """One load's CPU: busy milliseconds per request (the servers, PostgreSQL and wrk alike,
    the same in both arms but for what the outbox adds), and the share of the cores the
    hypervisor stole meanwhile."""

    ms_per_request: float
    stolen: float


class EventsRun(Run):
    """``Run`` with two more kinds of server start: the no-outbox module, and Stockroom with
    a ``stockroom relay`` beside it whose lag is read before the copy is dropped; and each
    load's CPU per request beside its req/s."""

    lags: dict[str, list[Lag]]
    outbox_rows: dict[str, list[int]]  # per target, per start: rows its load wrote
    cpu: dict[str, list[Cpu]]

    def _measure(self, server: Server, target: Target, endpoint: Endpoint, conns: int) -> None:
        # req/s on a shared host moves with what its other guests do (steal); CPU busy per
        # request is what a request costs this machine, whatever the others do.
        busy, stolen = _cpu_seconds()
        super()._measure(server, target, endpoint, conns)
        busy_after, stolen_after = _cpu_seconds()
        result = self.results.wrk[target.key, endpoint.label, conns][-1]
        cores = os.cpu_count() or 1
        self.cpu.setdefault(target.key, []).append(
            Cpu(
                (busy_after - busy) * 1000 / max(result.requests, 1),
                (stolen_after - stolen) / (result.us / 1e6 * cores),
            )
        )

    def _serve(self, target: Target) -> None:
        venv = self.repo / ".venv/bin"
        argv = [str(venv / "stockroom"), "serve", "--workers", str(WORKERS)]
        if target.app == NO_OUTBOX_APP:
            argv[:2] = [str(venv / "python"), "-m", "bench.events_serve", "serve"]
        with contextlib.ExitStack() as stack:
            database = stack.enter_context(self._copy(target.database))
            env = self.env | target.environment(database, self.ports)
            tag = secrets.token_hex(4)
            if target.name == RELAYED:
                env |= {
                    "STOCKROOM_EVENTS_URL": NATS_URL,
                    "STOCKROOM_EVENTS_STREAM": f"BENCH_EVENTS_{tag.upper()}",
                    "STOCKROOM_EVENTS_SUBJECT_PREFIX": f"bench_events_{tag}",
                }
                stack.callback(_delete_stream, env["STOCKROOM_EVENTS_STREAM"])
            log_file = self.workdir / f"{target.app}-{Path(database).name}.log"
            server = stack.enter_context(Server(argv, env, self.cwd, log_file))
            server.wait_ready("/items/1", WORKERS)
            if target.name == RELAYED:
                relay = [str(venv / "stockroom"), "relay"]
                relay_log = self.workdir / f"relay-{Path(database).name}.log"
                stack.enter_context(_Relay(relay, env, self.cwd, relay_log))
            script = self.scripts[target.database, ORDER.label]
            self._probe(server, target, ORDER)
            wrk.run(server.url, script, max(self.plan.connections), WARMUP_SECONDS)
            url = URLS[target.database].format(database=database)
            start = asyncio.run(_last_position(url))
            for connections in self.plan.connections:
                self._measure(server, target, ORDER, connections)
            written = asyncio.run(_last_position(url)) - start
            self.outbox_rows.setdefault(target.key, []).append(written)
            log(f"{target.key:50.50} outbox rows the load wrote: {written:,}")
            if target.name == RELAYED:
                lag = asyncio.run(_lag(url, start))
                self.lags.setdefault(target.key, []).append(lag)
                log(
                    f"{target.key:50.50} outbox lag over {lag.events} events: p50 "
                    f"{lag.p50 * 1000:.0f} ms, p99 {lag.p99 * 1000:.0f} ms, worst "
                    f"{lag.worst * 1000:.0f} ms"
                )


class _Relay:
    """``stockroom relay`` in a process group of its own, stopped like a server."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self._argv, self._env, self._cwd, self._log = argv, env, cwd, log

    def __enter__(self) -> _Relay:
        with self._log.open("wb") as out:
            self.process = subprocess.Popen(
                self._argv, env=self._env, cwd=self._cwd, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        return self

    def __exit__(self, *_exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _delete_stream(stream: str) -> None:
    async def delete() -> None:
        client = await nats.connect(NATS_URL)
        with contextlib.suppress(Exception):  # never created: nothing to delete
            await client.jetstream().delete_stream(stream)
        await client.close()

    asyncio.run(delete())


async def _last_position(url: str) -> int:
    database = Database(url)
    try:
        async with database.engine.connect() as connection:
            query = select(outbox.c.position).order_by(outbox.c.position.desc()).limit(1)
            return int((await connection.execute(query)).scalar() or 0)
    finally:
        await database.dispose()


async def _lag(url: str, after: int, settle: float = 10.0) -> Lag:
    """Once every row the load wrote is published (the relay catches up within ``settle``
    seconds, else the unsent ones count as waiting that long), each row's wait."""
    database = Database(url)
    o = outbox.c
    query = select(o.occurred_at, o.published_at).where(o.position > after)
    try:
        for _ in range(int(settle / 0.1)):
            async with database.engine.connect() as connection:
                rows = (await connection.execute(query)).all()
            if all(published is not None for _, published in rows):
                break
            await asyncio.sleep(0.1)
        waits = sorted(
            (published - occurred).total_seconds() if published is not None else settle
            for occurred, published in rows
        )
    finally:
        await database.dispose()
    if not waits:
        return Lag(0, 0.0, 0.0, 0.0)
    return Lag(len(waits), waits[len(waits) // 2], waits[int(len(waits) * 0.99)], waits[-1])


def _targets(databases: list[str]) -> tuple[Target, ...]:
    targets: list[Target] = []
    for database in databases:
        targets += [Target(WITH, database), Target(WITHOUT, database, app=NO_OUTBOX_APP)]
        if database == PG:
            targets.append(Target(RELAYED, database))
    return tuple(targets)


def render(run: EventsRun, drains: list[events_drain.Drain]) -> str:
    results = run.results
    lines = [
        f"Machine: {results.machine}.",
        f"{results.plan.seconds} s per case after a {WARMUP_SECONDS} s warm-up; medians of "
        f"{results.plan.repetitions} repetition(s); {WORKERS} uvicorn workers; wrk, 2 threads.",
        "",
        "POST /orders/ | c | req/s | vs without | p50 ms | p99 ms | errors",
        "---|---:|---:|---:|---:|---:|---:",
    ]
    for target in results.plan.targets:
        reference = f"{WITHOUT} ({target.database})"
        for conns in results.plan.connections:
            rps = results.median(target.key, ORDER, conns, "rps")
            if rps is None:
                continue
            base = results.median(reference, ORDER, conns, "rps") or rps
            p50 = results.median(target.key, ORDER, conns, "p50") or 0
            p99 = results.median(target.key, ORDER, conns, "p99") or 0
            errors = sum(r.errors for r in results.wrk[target.key, ORDER.label, conns])
            lines.append(
                f"{target.key} | {conns} | {rps:,.0f} | {rps / base:.2f}x | {p50 / 1000:.1f} | "
                f"{p99 / 1000:.1f} | {errors}"
            )
    lines += ["", *_paired(results), "", *_cpu_lines(run), ""]
    for key, written in run.outbox_rows.items():
        lines.append(f"{key}: outbox rows written by the load: {sum(written):,}")
    for key, lags in run.lags.items():
        lines.append(
            f"{key}: outbox lag (occurred -> published) over {sum(x.events for x in lags):,} "
            f"events: p50 {median(x.p50 for x in lags) * 1000:.0f} ms, p99 "
            f"{median(x.p99 for x in lags) * 1000:.0f} ms, worst "
            f"{max(x.worst for x in lags) * 1000:.0f} ms (goal: under 1 s)"
        )
    for result in drains:
        sequential = next(d for d in drains if d.database == result.database and d.in_flight == 1)
        lines.append(
            f"Drain ({result.database}, {result.in_flight} in flight): {result.events:,} events "
            f"in {result.seconds:.1f} s = {result.rate:,.0f} events/s "
            f"({result.rate / 5000:.2f}x the goal of 5,000/s; "
            f"{result.rate / sequential.rate:.2f}x one at a time); "
            f"{result.in_stream:,} in the stream"
        )
    return "\n".join(lines)


def _cpu_lines(run: EventsRun) -> list[str]:
    """CPU per request, and the paired ratio of the arm without the outbox to this one: the
    share of the purchases this machine could serve with the outbox, were it CPU-bound."""
    lines = []
    for target in run.results.plan.targets:
        ours = run.cpu.get(target.key, [])
        if not ours:
            continue
        stolen = median(x.stolen for x in ours)
        line = (
            f"{target.key}: CPU {median(x.ms_per_request for x in ours):.2f} ms a request "
            f"(whole machine, median; {stolen:.0%} of the cores stolen)"
        )
        base = run.cpu.get(f"{WITHOUT} ({target.database})", [])
        if target.name != WITHOUT and base:
            ratios = [b.ms_per_request / a.ms_per_request for a, b in zip(ours, base, strict=False)]
            each = ", ".join(f"{r:.2f}" for r in ratios)
            line += f"; without / with, median of pairs: **{median(ratios):.2f}x** ({each})"
        lines.append(line)
    return lines


def _paired(results: Results) -> list[str]:
    """Each repetition's ratio to the arm without the outbox on the same database, measured
    within the same repetition (a minute or so apart), then the median of those: on a shared
    machine a slow spell moves both sides of a pair more alike than two medians taken over
    the whole run, and the median of the pairs shrugs one bad pair off."""
    lines = []
    for target in results.plan.targets:
        if target.name == WITHOUT:
            continue
        for conns in results.plan.connections:
            ours = results.wrk.get((target.key, ORDER.label, conns), [])
            base = results.wrk.get((f"{WITHOUT} ({target.database})", ORDER.label, conns), [])
            pairs = list(zip(ours, base, strict=False))
            if not pairs:
                continue
            figures = {
                name: median(getattr(a, name) / getattr(b, name) for a, b in pairs)
                for name in ("rps", "p50", "p99")
            }
            each = ", ".join(f"{a.rps / b.rps:.2f}" for a, b in pairs)
            lines.append(
                f"{target.key} / without, c={conns}, median of {len(pairs)} paired "
                f"repetitions: req/s {figures['rps']:.2f}x ({each}), p50 {figures['p50']:.2f}x, "
                f"p99 {figures['p99']:.2f}x"
            )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.events", description=__doc__)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--connections", type=int, action="append")
    parser.add_argument("--events", type=int, default=DRAIN_EVENTS, help="the drain's backlog")
    parser.add_argument("--database", action="append", choices=[PG, SQLITE])
    args = parser.parse_args()
    databases = args.database or [PG, SQLITE]
    plan = Plan(
        "events", args.seconds, tuple(args.connections or [32]), args.repetitions,
        _targets(databases), (ORDER,),
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-") as workdir:
        run = EventsRun(plan, BENCH.parent, Path(workdir))
        run.lags, run.outbox_rows, run.cpu = {}, {}, {}
        run.execute()
        drains = []
        for database in databases:
            # The relay as it ships, and one publish at a time (what it did before): same run.
            for in_flight in (RelayPolicy().in_flight, 1):
                log(f"bench: draining {args.events:,} events on {database}, window {in_flight}")
                with throwaway_database(database, Path(workdir)) as url:
                    drains.append(asyncio.run(drain(database, url, args.events, in_flight)))
    text = render(run, drains)
    print(text)
    (BENCH / "results").mkdir(exist_ok=True)
    (BENCH / "results" / "events.md").write_text(text + "\n")
    errors = sum(r.errors for runs in run.results.wrk.values() for r in runs)
    # The switch must have switched: the arm without the outbox wrote no row.
    leaked = sum(sum(n) for key, n in run.outbox_rows.items() if key.startswith(WITHOUT))
    drained = all(d.in_stream == d.events for d in drains)
    return 0 if errors == 0 and leaked == 0 and drained else 1


if __name__ == "__main__":
    sys.exit(main())
