"""How long and how much: the full run, the quick run and the CI smoke case."""

from __future__ import annotations

from dataclasses import dataclass

from bench import endpoints, targets
from bench.targets import Target


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: int  # measured, per case
    warmup_seconds: int  # per endpoint, once per server start, at the highest concurrency
    connections: tuple[int, ...]
    repetitions: int
    targets: tuple[Target, ...]
    endpoints: tuple[str, ...]
    pgbench: bool
    unit_suite: bool
    chart: bool
    workers: int = 2
    wrk_threads: int = 2

    @property
    def needs_postgres(self) -> bool:
        return any(target.backend == targets.POSTGRES for target in self.targets) or self.pgbench

    @property
    def needs_orders(self) -> bool:
        return endpoints.POST_ORDER.key in self.endpoints or self.pgbench

    def estimated_seconds(self) -> float:
        per_server = 4 + self.warmup_seconds * len(self.endpoints)
        per_server += (self.seconds + 0.3) * len(self.endpoints) * len(self.connections)
        total = per_server * len(self.targets) * self.repetitions
        if self.pgbench:
            total += (self.seconds + 2) * len(self.connections) * self.repetitions
        if self.unit_suite:
            total += 8 * self.repetitions
        return total + 20  # seeding and teardown


ALL_ENDPOINTS = tuple(endpoint.key for endpoint in endpoints.ALL)

FULL = Plan(
    name="full",
    seconds=10,
    warmup_seconds=1,
    connections=(32, 64),
    repetitions=3,
    targets=targets.FULL,
    endpoints=ALL_ENDPOINTS,
    pgbench=True,
    unit_suite=True,
    chart=True,
)

QUICK = Plan(
    name="quick",
    seconds=2,
    warmup_seconds=1,
    connections=(32,),
    repetitions=1,
    targets=targets.FULL,
    endpoints=ALL_ENDPOINTS,
    pgbench=True,
    unit_suite=False,
    chart=True,
)

SMOKE = Plan(
    name="smoke",
    seconds=2,
    warmup_seconds=1,
    connections=(32,),
    repetitions=1,
    targets=(Target(targets.STOCKROOM, targets.SQLITE),),
    endpoints=(endpoints.GET_ITEM.key,),
    pgbench=False,
    unit_suite=False,
    chart=False,
)

BY_NAME = {plan.name: plan for plan in (FULL, QUICK, SMOKE)}
