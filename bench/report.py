"""The one report: per endpoint, every target's medians and its ratio to Stockroom on the same
database, then the goals. Every ratio compares two medians of the same run."""

from collections.abc import Iterator

from bench import goals
from bench.cases import CEILING, PATTERN_ALONE, PG, REFERENCE, Endpoint
from bench.run import Results


def render(results: Results) -> str:
    plan = results.plan
    lines = [
        f"### Benchmark ({plan.name} run, {results.machine.split(';')[0]}, "
        f"{results.minutes:.1f} min)\n",
        f"{plan.seconds} s per case after a 1 s warm-up per endpoint; medians of "
        f"{plan.repetitions} repetition(s); 2 uvicorn workers per server; wrk, 2 threads.\n",
        f"Machine: {results.machine}.\n",
    ]
    for endpoint in plan.endpoints:
        lines += _table(results, endpoint)
    lines += goals.render(results)
    if results.exported:
        lines.append(f"The tracing row exported {results.exported / 2**20:.1f} MiB of spans.\n")
    return "\n".join(lines)


def _cells(results: Results, key: str, reference: str, endpoint: Endpoint, c: int) -> str:
    rps = results.median(key, endpoint, c, "rps")
    if rps is None:
        return " | | |"
    ours = results.median(reference, endpoint, c, "rps")
    ratio = f"{rps / ours:.2f}x" if ours and key != reference else ""
    p50, p99 = (results.median(key, endpoint, c, figure) or 0 for figure in ("p50", "p99"))
    return f"{rps:,.0f} | {ratio} | {p50 / 1000:.1f} | {p99 / 1000:.1f}"


def _table(results: Results, endpoint: Endpoint) -> Iterator[str]:
    plan, conns = results.plan, results.plan.connections
    yield f"#### {endpoint.label}\n"
    columns = " | ".join(f"c={c} req/s | vs Stockroom | p50 ms | p99 ms" for c in conns)
    yield f"| row | {columns} | errors |"
    yield "|---|" + "---:|---:|---:|---:|" * len(conns) + "---:|"
    for target in plan.targets:
        name = target.name if target.database == PG else f"{target.name} ({target.database})"
        reference = f"{REFERENCE} ({target.database})"
        cells = " | ".join(_cells(results, target.key, reference, endpoint, c) for c in conns)
        runs = [run for c in conns for run in results.wrk.get((target.key, endpoint.label, c), [])]
        errors = sum(run.errors for run in runs)
        yield f"| {name} | {cells} | {f'**{errors}**' if errors else 0} |"
    shares = []
    for c in conns:
        alone, ceiling = (
            results.median(f"{n} ({PG})", endpoint, c, "rps") for n in (PATTERN_ALONE, CEILING)
        )
        if alone and ceiling:
            shares.append(f"{alone / ceiling:.2f}x at c={c}")
    if shares:
        yield f"\nWhat the pattern itself costs: everything off / ceiling = {', '.join(shares)}."
    yield ""
