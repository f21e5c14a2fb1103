"""Issue 22's goals, as data, checked against one run's medians: every ratio compares two
figures of the same run, so a slower or faster machine moves both sides alike. Each goal is
held at every connection count of the run, on Stockroom as it ships (metrics on, the ORM)."""

from collections.abc import Iterator
from dataclasses import dataclass

from bench.cases import CEILING, CLASSIC_ASYNC, GET_ITEM, PG, POST_ORDER, REFERENCE, Endpoint
from bench.run import Results

STOCKROOM = f"{REFERENCE} ({PG})"


@dataclass(frozen=True)
class Ratio:
    """Stockroom's req/s over a comparator's, same endpoint: at least ``at_least``."""

    endpoint: Endpoint
    comparator: str
    at_least: float

    @property
    def text(self) -> str:
        return f"{self.endpoint.label} >= {self.at_least:.2f}x {self.comparator}"

    def measure(self, results: Results, conns: int) -> tuple[bool, str] | None:
        ours = results.median(STOCKROOM, self.endpoint, conns, "rps")
        theirs = results.median(f"{self.comparator} ({PG})", self.endpoint, conns, "rps")
        if ours is None or theirs is None:
            return None  # a plan without both sides has no verdict, rather than a wrong one
        return ours / theirs >= self.at_least, f"{ours / theirs:.2f}x"


@dataclass(frozen=True)
class Tail:
    """Stockroom's p99 at most ``at_most`` times its p50."""

    endpoint: Endpoint
    at_most: float

    @property
    def text(self) -> str:
        return f"{self.endpoint.label}: p99 <= {self.at_most:.0f}x p50"

    def measure(self, results: Results, conns: int) -> tuple[bool, str] | None:
        p50 = results.median(STOCKROOM, self.endpoint, conns, "p50")
        p99 = results.median(STOCKROOM, self.endpoint, conns, "p99")
        if p50 is None or p99 is None:
            return None
        return (
            p99 <= self.at_most * p50,
            f"{p99 / p50:.1f}x ({p50 / 1000:.1f} / {p99 / 1000:.1f} ms)",
        )


GOALS = (
    Ratio(GET_ITEM, CEILING, 0.70),
    Ratio(POST_ORDER, CEILING, 0.55),
    Ratio(POST_ORDER, CLASSIC_ASYNC, 1.5),
    Tail(GET_ITEM, 3.0),
    Tail(POST_ORDER, 3.0),
)


@dataclass(frozen=True)
class Verdict:
    goal: str
    measured: dict[int, str]  # per connection count
    met: bool  # at every connection count


def verdicts(results: Results) -> Iterator[Verdict]:
    for goal in GOALS:
        found = {conns: goal.measure(results, conns) for conns in results.plan.connections}
        measured = {conns: figures for conns, figures in found.items() if figures is not None}
        if measured:
            texts = {conns: text for conns, (_, text) in measured.items()}
            yield Verdict(goal.text, texts, all(met for met, _ in measured.values()))


def render(results: Results) -> Iterator[str]:
    found = list(verdicts(results))
    if not found:
        return
    conns = results.plan.connections
    yield f"#### Goals: {sum(v.met for v in found)} of {len(found)} met\n"
    yield "| goal (Stockroom, PG) | " + " | ".join(f"c={c}" for c in conns) + " | verdict |"
    yield "|---|" + "---:|" * len(conns) + "---|"
    for verdict in found:
        cells = " | ".join(verdict.measured.get(c, "") for c in conns)
        yield f"| {verdict.goal} | {cells} | {'met' if verdict.met else '**missed**'} |"
    yield ""
