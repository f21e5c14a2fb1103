"""The markdown report: medians of the repetitions, and ratios between figures of one run."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from bench.cases import POST_ORDER, REFERENCE, Target
from bench.run import Case, Results, median

MIB = 2**20


def render(results: Results) -> str:
    sections = (_header, _throughput, _memory, _pgbench, _unit_suite, _notes)
    return "\n".join(line for section in sections for line in section(results))


def _header(results: Results) -> Iterator[str]:
    plan = results.plan
    yield f"### Benchmark results ({plan.name} run, {results.machine.split(';')[0]})\n"
    yield (
        f"Plan: {plan.seconds} s per case after a 1 s warm-up per endpoint, "
        f"{', '.join(map(str, plan.connections))} connections, {plan.repetitions} "
        f"repetition(s) (medians shown), 2 uvicorn workers, wrk with 2 threads. "
        f"Whole run: {results.minutes:.1f} min.\n"
    )
    yield f"Machine: {results.machine}.\n"


def _median(cases: list[Case], figure: Callable[[Case], float]) -> float:
    return median(figure(case) for case in cases)


def _row(target: Target, cases: list[Case], reference: list[Case]) -> str:
    rps = _median(cases, lambda case: case.wrk.rps)
    ratio = ""
    if reference and target.name != REFERENCE:
        ratio = f"{_median(reference, lambda case: case.wrk.rps) / rps:.2f}x"
    errors = sum(case.wrk.errors for case in cases)
    if errors:
        errors = f"**{errors}** ({sum(case.wrk.non_2xx for case in cases)} non-2xx)"
    server_cpu = _median(cases, lambda case: 100 * case.server_cpu / case.wrk.seconds)
    machine_cpu = _median(cases, lambda case: 100 * case.machine_cpu / case.wrk.seconds)
    return (
        f"{target.name} | {rps:,.0f} | {ratio} | {_median(cases, lambda c: c.wrk.p50_ms):.1f} | "
        f"{_median(cases, lambda c: c.wrk.p99_ms):.1f} | {errors} | {server_cpu:.0f}% | "
        f"{machine_cpu:.0f}% |"
    )


def _throughput(results: Results) -> Iterator[str]:
    plan = results.plan
    yield "#### Throughput and latency (medians)\n"
    yield (
        "| database | endpoint | conns | comparator | req/s | vs Stockroom | p50 ms | p99 ms "
        "| errors | CPU: server | machine |"
    )
    yield "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    for database in dict.fromkeys(target.database for target in plan.targets):
        targets = [target for target in plan.targets if target.database == database]
        reference = next((t for t in targets if t.name == REFERENCE), None)
        for endpoint in plan.endpoints:
            for conns in plan.connections:
                ref = results.cases_of(reference, endpoint, conns) if reference else []
                for target in targets:
                    if cases := results.cases_of(target, endpoint, conns):
                        row = _row(target, cases, ref)
                        yield f"| {database} | {endpoint.label} | {conns} | {row}"
    yield (
        "\nvs Stockroom: Stockroom's req/s over this comparator's, same database, both "
        "medians of this run. errors: responses outside 2xx, socket errors and timeouts (5 s), "
        "summed over the repetitions. CPU, % of one core: server = its uvicorn workers; "
        "machine = every process on every core (wrk, PostgreSQL, the harness and anything "
        "else: 100% per core means the machine was the limit).\n"
    )


def _memory(results: Results) -> Iterator[str]:
    yield "#### Server memory (RSS of the uvicorn workers, summed; median of repetitions)\n"
    yield "| comparator | ready | after warm-up | after the run | growth after warm-up, worst |"
    yield "|---|---:|---:|---:|---:|"
    for key, runs in results.rss.items():
        ready, warm, end = (median(run[index] for run in runs) / MIB for index in range(3))
        growth = max((end - warm) / warm for _, warm, end in runs if warm)
        yield f"| {key} | {ready:.0f} MiB | {warm:.0f} MiB | {end:.0f} MiB | {growth:+.1%} |"
    yield ""


def _pgbench(results: Results) -> Iterator[str]:
    if not results.pgbench:
        return
    reference = Target(REFERENCE, "PG")
    yield "#### Database limit: pgbench, the same order transaction (bench/pgbench_order.sql)\n"
    yield "| clients | transactions/s | avg latency | failed | Stockroom POST /orders/ / pgbench |"
    yield "|---:|---:|---:|---:|---:|"
    for clients, runs in results.pgbench.items():
        tps = median(tps for tps, _, _ in runs)
        ours = results.cases_of(reference, POST_ORDER, clients)
        share = f"{_median(ours, lambda case: case.wrk.rps) / tps:.2f}" if ours else "n/a"
        latency = median(latency for _, latency, _ in runs)
        failed = sum(failed for _, _, failed in runs)
        yield f"| {clients} | {tps:,.0f} | {latency:.1f} ms | {failed} | {share} |"
    yield ""


def _unit_suite(results: Results) -> Iterator[str]:
    if results.unit_suite:
        wall = median(seconds for seconds, _ in results.unit_suite)
        yield (
            f"Unit suite (`pytest tests/unit -q`, {len(results.unit_suite)} runs): {wall:.2f} s "
            f"wall with interpreter start-up (median); pytest: {results.unit_suite[-1][1]}.\n"
        )


def _notes(results: Results) -> Iterator[str]:
    """Any comparator whose JSON keys differ from Stockroom's (one probe per endpoint)."""
    keys = results.json_keys
    for (target, endpoint), found in keys.items():
        database = target.rsplit("(", 1)[1].rstrip(")")
        expected = keys.get((Target(REFERENCE, database).key, endpoint))
        if expected is not None and found != expected:
            yield f"- Note: {target} {endpoint}: JSON keys {found} differ from Stockroom's"
