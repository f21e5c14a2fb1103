"""Issue 6's goals, each a figure of this run with a verdict; ratios compare medians of the
same run only."""

from __future__ import annotations

from dataclasses import dataclass

from bench import endpoints, targets
from bench.results import Case, Results

PG, LITE = targets.POSTGRES, targets.SQLITE


@dataclass(frozen=True)
class Goal:
    what: str
    measured: float | None
    target: float
    at_least: bool  # True: measured >= target passes; False: measured <= target passes
    unit: str = ""

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "not measured"
        ok = self.measured >= self.target if self.at_least else self.measured <= self.target
        return "pass" if ok else "**FAIL**"

    def row(self) -> str:
        sign = ">=" if self.at_least else "<="
        shown = "n/a" if self.measured is None else _fmt(self.measured, self.unit)
        return f"| {self.what} | {shown} | {sign} {_fmt(self.target, self.unit)} | {self.verdict} |"


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "x":
        return f"{value:.2f}"
    return f"{value:.0f}"


def rps(case: Case) -> float:
    return case.wrk.rps


def _ratio(results: Results, other: str, backend: str, endpoint: str, conns: int) -> float | None:
    mine = results.median(f"{targets.STOCKROOM}/{backend}", endpoint, conns, rps)
    theirs = results.median(f"{other}/{backend}", endpoint, conns, rps)
    return mine / theirs if mine and theirs else None


RATIO_GOALS = (
    # (comparator, backends, endpoint, minimum Stockroom/comparator)
    (targets.CEILING, (PG, LITE), endpoints.GET_ITEM.key, 0.50),
    (targets.CEILING, (PG, LITE), endpoints.POST_ORDER.key, 0.60),
    (targets.CLASSIC_ASYNC, (PG,), endpoints.GET_ITEM.key, 1.5),
    (targets.CLASSIC_ASYNC, (PG,), endpoints.POST_ORDER.key, 1.3),
    (targets.CLASSIC_SYNC, (PG,), endpoints.GET_ITEM.key, 2.5),
    (targets.CLASSIC_SYNC, (PG,), endpoints.POST_ORDER.key, 1.5),
)


def goals(results: Results) -> list[Goal]:
    found: list[Goal] = []
    present = {target.key for target in results.plan.targets}
    for comparator, backends, endpoint, minimum in RATIO_GOALS:
        for backend in backends:
            if f"{comparator}/{backend}" not in present or endpoint not in results.plan.endpoints:
                continue
            for conns in results.plan.connections:
                found.append(
                    Goal(
                        f"Stockroom / {targets.LABELS[comparator]}, "
                        f"{endpoints.BY_KEY[endpoint].label}, {db_label(backend)}, c={conns}",
                        _ratio(results, comparator, backend, endpoint, conns),
                        minimum,
                        at_least=True,
                        unit="x",
                    )
                )
    stockroom = [case for case in results.cases if case.target.startswith("stockroom/")]
    for conns in results.plan.connections:
        p99s = [
            results.median(target, endpoint, conns, lambda case: case.wrk.p99_ms)
            for target in {case.target for case in stockroom}
            for endpoint in results.plan.endpoints
        ]
        worst = max((value for value in p99s if value is not None), default=None)
        found.append(Goal(f"Stockroom worst p99, any endpoint, c={conns}", worst, 100, False, "ms"))
    found.append(
        Goal(
            "errors, every case of every comparator",
            sum(c.wrk.errors for c in results.cases),
            0,
            False,
        )
    )
    growth = [run.growth * 100 for run in results.servers if run.target.startswith("stockroom/")]
    found.append(
        Goal("Stockroom server RSS growth over a run", max(growth, default=None), 10, False, "%")
    )
    return found


def db_label(backend: str) -> str:
    return "PG" if backend == PG else "SQLite"
