"""The markdown report: medians of the repetitions, and ratios between figures of one run."""

from collections.abc import Iterator
from statistics import median

from bench import goals
from bench.cases import PG, POST_ORDER, REFERENCE, Target
from bench.run import Results
from bench.wrk import WrkResult


def render(results: Results) -> str:
    plan = results.plan
    lines = [
        f"### Benchmark results ({plan.name} run, {results.machine.split(';')[0]})\n",
        f"Plan: {plan.seconds} s per case after a 1 s warm-up per endpoint, "
        f"{', '.join(map(str, plan.connections))} connections, {plan.repetitions} repetition(s) "
        "(medians shown), 2 uvicorn workers, wrk with 2 threads.\n",
        f"Machine: {results.machine}.\n",
        *goals.render(results),
        *_throughput(results),
        *_memory(results),
        *_pgbench(results),
    ]
    return "\n".join(lines)


def _row(runs: list[WrkResult], stockroom: list[WrkResult]) -> str:
    rps = median(run.rps for run in runs)
    ratio = f"{median(run.rps for run in stockroom) / rps:.2f}x" if stockroom else ""
    errors = sum(run.errors for run in runs)
    shown = f"**{errors}** ({sum(run.non_2xx for run in runs)} non-2xx)" if errors else "0"
    p50, p99 = median(run.p50 for run in runs) / 1000, median(run.p99 for run in runs) / 1000
    return f"{rps:,.0f} | {ratio} | {p50:.1f} | {p99:.1f} | {shown} |"


def _throughput(results: Results) -> Iterator[str]:
    plan = results.plan
    yield "#### Throughput and latency (medians)\n"
    yield (
        "| database | endpoint | comparator | conns | req/s | vs Stockroom | p50 ms | p99 ms "
        "| errors |\n|---|---|---|---:|---:|---:|---:|---:|---:|"
    )
    for database in dict.fromkeys(target.database for target in plan.targets):
        targets = [target for target in plan.targets if target.database == database]
        for endpoint in plan.endpoints:
            for conns in plan.connections:
                stockroom = results.of(Target(REFERENCE, database), endpoint, conns)
                for target in targets:
                    if runs := results.of(target, endpoint, conns):
                        row = _row(runs, stockroom if target.name != REFERENCE else [])
                        yield f"| {database} | {endpoint.label} | {target.name} | {conns} | {row}"
    yield (
        "\nvs Stockroom: Stockroom's req/s over this comparator's, same database, both medians "
        "of this run. errors: responses outside 2xx, socket errors and timeouts (5 s), summed "
        "over the repetitions.\n"
    )


def _memory(results: Results) -> Iterator[str]:
    yield "#### Server memory (RSS of the uvicorn workers, summed; median of repetitions)\n"
    yield "| comparator | after warm-up | at the end | growth, worst |\n|---|---:|---:|---:|"
    for key, runs in results.rss_mib.items():
        growth = max((end - warm) / warm for warm, end in runs)
        warm, end = median(warm for warm, _ in runs), median(end for _, end in runs)
        yield f"| {key} | {warm:.0f} MiB | {end:.0f} MiB | {growth:+.1%} |"
    yield ""


def _pgbench(results: Results) -> Iterator[str]:
    if results.pgbench:
        yield "#### Database limit: pgbench, the same order transaction (pgbench_order.sql)\n"
        yield "| clients | transactions/s | avg latency | failed | Stockroom's POST / pgbench |"
        yield "|---:|---:|---:|---:|---:|"
    for clients, runs in results.pgbench.items():
        tps, latency = median(run[0] for run in runs), median(run[1] for run in runs)
        stockroom = results.of(Target(REFERENCE, PG), POST_ORDER, clients)
        share = f"{median(run.rps for run in stockroom) / tps:.2f}" if stockroom else "n/a"
        failed = sum(run[2] for run in runs)
        yield f"| {clients} | {tps:,.0f} | {latency:.1f} ms | {failed:.0f} | {share} |"
