"""What one run measured, kept raw (every repetition) so the report can take medians."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bench.pgbench import PgbenchResult
from bench.plans import Plan
from bench.unit_suite import UnitSuiteResult
from bench.wrk import WrkResult


@dataclass(frozen=True)
class Case:
    target: str
    endpoint: str
    connections: int
    repetition: int
    wrk: WrkResult
    server_cpu_seconds: float
    postgres_cpu_seconds: float
    machine_cpu_seconds: float  # every core, every process

    def _percent(self, seconds: float) -> float:
        return 100 * seconds / self.wrk.seconds if self.wrk.seconds else 0.0

    @property
    def server_cpu_percent(self) -> float:
        return self._percent(self.server_cpu_seconds)

    @property
    def postgres_cpu_percent(self) -> float:
        return self._percent(self.postgres_cpu_seconds)

    @property
    def other_cpu_percent(self) -> float:
        """What neither the server, wrk nor PostgreSQL used: the harness, and anything else
        running on the machine at the time (a high figure means a disturbed measurement)."""
        mine = self.server_cpu_seconds + self.postgres_cpu_seconds + self.wrk.cpu_seconds
        return max(0.0, self._percent(self.machine_cpu_seconds - mine))


@dataclass(frozen=True)
class ServerRun:
    target: str
    repetition: int
    rss_start: int  # ready, before any load
    rss_warm: int  # after the warm-up of every endpoint
    rss_end: int  # after the last measured case

    @property
    def growth(self) -> float:
        """RSS growth over the measured part of the run (warm-up excluded)."""
        return (self.rss_end - self.rss_warm) / self.rss_warm if self.rss_warm else 0.0


@dataclass
class Results:
    plan: Plan
    machine: dict[str, str]
    cases: list[Case] = field(default_factory=list)
    servers: list[ServerRun] = field(default_factory=list)
    pgbench: list[PgbenchResult] = field(default_factory=list)
    unit_suite: list[UnitSuiteResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    response_keys: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    def select(self, target: str, endpoint: str, connections: int) -> list[Case]:
        return [
            case
            for case in self.cases
            if (case.target, case.endpoint, case.connections) == (target, endpoint, connections)
        ]

    def median(
        self, target: str, endpoint: str, connections: int, metric: Callable[[Case], float]
    ) -> float | None:
        found = self.select(target, endpoint, connections)
        return median(metric(case) for case in found) if found else None


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))
