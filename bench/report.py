"""The markdown report: medians of the repetitions, ratios between figures of the same run,
and each goal of issue 6 with its verdict (bench.goals)."""

from __future__ import annotations

from collections.abc import Iterator

from bench import endpoints, targets
from bench.goals import goals, rps
from bench.results import Case, Results, median

MB = 1024 * 1024
PG, LITE = targets.POSTGRES, targets.SQLITE
STOCKROOM_PG = f"{targets.STOCKROOM}/{PG}"


def render(results: Results) -> str:
    return "\n".join(
        [
            *_header(results),
            *_throughput(results),
            *_goals(results),
            *_memory(results),
            *_pgbench(results),
            *_unit_suite(results),
            *_notes(results),
        ]
    )


def _header(results: Results) -> Iterator[str]:
    plan = results.plan
    machine = results.machine
    yield f"## Benchmark results ({plan.name} run, {machine.get('date', '?')})"
    yield ""
    yield (
        f"Plan: {plan.seconds} s per case after a {plan.warmup_seconds} s warm-up per endpoint, "
        f"{', '.join(map(str, plan.connections))} connections, {plan.repetitions} "
        f"repetition(s) (medians shown), {plan.workers} uvicorn workers, wrk with "
        f"{plan.wrk_threads} threads. Whole run: {results.elapsed_seconds / 60:.1f} min."
    )
    yield ""
    yield "Machine: " + "; ".join(f"{key} {value}" for key, value in machine.items()) + "."
    yield ""


def _throughput(results: Results) -> Iterator[str]:
    yield "### Throughput and latency (medians)"
    yield ""
    yield (
        "| database | endpoint | comparator | conns | req/s | vs Stockroom | p50 ms | p99 ms "
        "| errors | CPU: wrk | server | PG | other |"
    )
    yield "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for backend in (PG, LITE):
        for endpoint in endpoints.ALL:
            for connections in results.plan.connections:
                yield from _throughput_rows(results, backend, endpoint, connections)
    yield ""
    yield (
        "errors: responses outside 2xx plus socket errors and timeouts, summed over the "
        "repetitions. CPU: % of one core (the machine has "
        f"{results.machine.get('cpu', '?').rsplit(', ', 1)[-1]}), median; server = the uvicorn "
        "workers, PG = the PostgreSQL backends of the case's database plus the server's "
        "background processes, other = everything else on the machine (the harness itself, "
        "and whatever else was running: high means disturbed)."
    )
    yield ""


def _throughput_rows(
    results: Results, backend: str, endpoint: endpoints.Endpoint, connections: int
) -> Iterator[str]:
    stockroom = results.median(f"{targets.STOCKROOM}/{backend}", endpoint.key, connections, rps)
    for target in results.plan.targets:
        if target.backend != backend:
            continue
        found = results.select(target.key, endpoint.key, connections)
        if not found:
            continue
        throughput = median(rps(case) for case in found)
        relative = (
            f"{stockroom / throughput:.2f}x"
            if stockroom and target.comparator != targets.STOCKROOM
            else ""
        )
        yield (
            f"| {'PG' if backend == PG else 'SQLite'} | {endpoint.label} | "
            f"{targets.LABELS[target.comparator]} | {connections} | {throughput:,.0f} | "
            f"{relative} | "
            f"{median(case.wrk.p50_ms for case in found):.1f} | "
            f"{median(case.wrk.p99_ms for case in found):.1f} | "
            f"{_errors(found)} | "
            f"{median(case.wrk.cpu_percent for case in found):.0f}% | "
            f"{median(case.server_cpu_percent for case in found):.0f}% | "
            f"{median(case.postgres_cpu_percent for case in found):.0f}% | "
            f"{median(case.other_cpu_percent for case in found):.0f}% |"
        )


def _errors(cases: list[Case]) -> str:
    total = sum(case.wrk.errors for case in cases)
    if not total:
        return "0"
    non_2xx = sum(case.wrk.non_2xx for case in cases)
    timeouts = sum(case.wrk.timeouts for case in cases)
    socket = total - non_2xx - timeouts
    parts = [f"{non_2xx} non-2xx", f"{timeouts} timeouts"] + ([f"{socket} socket"] * bool(socket))
    return f"**{total}** ({', '.join(parts)})"


def _goals(results: Results) -> Iterator[str]:
    yield "### Goals (issue 6)"
    yield ""
    yield "| goal | measured | target | verdict |"
    yield "|---|---:|---:|---|"
    for goal in goals(results):
        yield goal.row()
    yield ""


def _memory(results: Results) -> Iterator[str]:
    yield "### Server memory (RSS of the uvicorn workers, summed; median of repetitions)"
    yield ""
    yield "| comparator | ready | after warm-up | after the run | growth (warm-up -> end), worst |"
    yield "|---|---:|---:|---:|---:|"
    for target in results.plan.targets:
        runs = [run for run in results.servers if run.target == target.key]
        if not runs:
            continue
        yield (
            f"| {target.label} | {median(r.rss_start for r in runs) / MB:.0f} MiB | "
            f"{median(r.rss_warm for r in runs) / MB:.0f} MiB | "
            f"{median(r.rss_end for r in runs) / MB:.0f} MiB | "
            f"{max(r.growth for r in runs) * 100:+.1f}% |"
        )
    yield ""


def _pgbench(results: Results) -> Iterator[str]:
    if not results.pgbench:
        return
    yield "### Database limit: pgbench, the same order transaction (bench/pgbench_order.sql)"
    yield ""
    yield "| clients | transactions/s | avg latency | failed | Stockroom POST /orders/ / pgbench |"
    yield "|---:|---:|---:|---:|---:|"
    for clients in results.plan.connections:
        runs = [run for run in results.pgbench if run.clients == clients]
        tps = median(run.tps for run in runs)
        mine = results.median(STOCKROOM_PG, endpoints.POST_ORDER.key, clients, rps)
        share = f"{mine / tps:.2f}" if mine else "n/a"
        yield (
            f"| {clients} | {tps:,.0f} | {median(run.latency_ms for run in runs):.1f} ms | "
            f"{sum(run.failed for run in runs)} | {share} |"
        )
    yield ""


def _unit_suite(results: Results) -> Iterator[str]:
    if not results.unit_suite:
        return
    runs = results.unit_suite
    wall = median(run.wall_seconds for run in runs)
    yield "### Unit suite (`pytest tests/unit -q`, median)"
    yield ""
    yield "| passed | failed | wall time (with start-up) | pytest's own time | tests/s (wall) |"
    yield "|---:|---:|---:|---:|---:|"
    yield (
        f"| {runs[0].passed} | {runs[0].failed} | {wall:.2f} s "
        f"| {median(run.pytest_seconds for run in runs):.2f} s "
        f"| {median(run.tests_per_second for run in runs):.0f} |"
    )
    yield ""


def _notes(results: Results) -> Iterator[str]:
    reference = {
        endpoint: results.response_keys.get((STOCKROOM_PG, endpoint))
        or results.response_keys.get((f"{targets.STOCKROOM}/{LITE}", endpoint))
        for endpoint in results.plan.endpoints
    }
    notes = list(results.notes)
    for (target, endpoint), keys in sorted(results.response_keys.items()):
        if reference.get(endpoint) and keys != reference[endpoint]:
            notes.append(f"{target} {endpoint}: JSON keys {keys} differ from Stockroom's")
    if notes:
        yield "### Notes"
        yield ""
        yield from (f"- {note}" for note in notes)
        yield ""
