"""Issue 17's goals, checked against one run's medians: every ratio compares two figures of
the same run, so a slower or faster machine moves both sides alike."""

from collections.abc import Iterator
from dataclasses import dataclass
from statistics import median

from bench.cases import GET_ITEM, PG, POST_ORDER, REFERENCE, SQLITE, Endpoint, Target
from bench.run import Results

CEILING, CLASSIC_ASYNC = "ceiling (raw driver)", "classic async"
TAIL_LIMIT = 3.0  # p99 at most this many times p50, for every Stockroom case
TAIL_CONNECTIONS = (32, 64)


@dataclass(frozen=True)
class Throughput:
    """Stockroom's req/s over a comparator's, same database and endpoint, at every
    connection count of the run: the goal holds at each."""

    endpoint: Endpoint
    database: str
    comparator: str
    at_least: float


THROUGHPUT = (
    Throughput(POST_ORDER, PG, CEILING, 0.55),
    Throughput(POST_ORDER, PG, CLASSIC_ASYNC, 1.5),
    Throughput(GET_ITEM, PG, CEILING, 0.70),
    Throughput(POST_ORDER, SQLITE, CEILING, 0.55),
)


@dataclass(frozen=True)
class Verdict:
    goal: str
    case: str
    measured: str
    met: bool


def _rps(results: Results, target: Target, endpoint: Endpoint, conns: int) -> float | None:
    runs = results.of(target, endpoint, conns)
    return median(run.rps for run in runs) if runs else None


def verdicts(results: Results) -> Iterator[Verdict]:
    """Each goal the run has figures for (a plan without a comparator skips its goals)."""
    for goal in THROUGHPUT:
        for conns in results.plan.connections:
            ours = _rps(results, Target(REFERENCE, goal.database), goal.endpoint, conns)
            theirs = _rps(results, Target(goal.comparator, goal.database), goal.endpoint, conns)
            if ours is not None and theirs is not None:
                ratio = ours / theirs
                yield Verdict(
                    f"≥ {goal.at_least:.2f}x {goal.comparator}",
                    f"{goal.endpoint.label}, {goal.database}, c={conns}",
                    f"{ratio:.2f}x",
                    ratio >= goal.at_least,
                )
    for (key, label, conns), runs in results.wrk.items():
        if key.startswith("Stockroom") and conns in TAIL_CONNECTIONS:
            p50, p99 = median(run.p50 for run in runs), median(run.p99 for run in runs)
            yield Verdict(
                f"p99 ≤ {TAIL_LIMIT:.0f}x p50",
                f"{label}, {key}, c={conns}",
                f"{p99 / p50:.1f}x ({p50 / 1000:.1f} / {p99 / 1000:.1f} ms)",
                p99 <= TAIL_LIMIT * p50,
            )


def render(results: Results) -> Iterator[str]:
    found = list(verdicts(results))
    if not found:
        return
    met = sum(verdict.met for verdict in found)
    yield f"#### Goals (issue 17): {met} of {len(found)} met\n"
    yield "| goal | case | measured | met |\n|---|---|---:|:-:|"
    for verdict in found:
        yield f"| {verdict.goal} | {verdict.case} | {verdict.measured} | " + (
            "yes |" if verdict.met else "**no** |"
        )
    yield ""
