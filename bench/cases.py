"""What is measured, as data: the targets (a comparator on a database, and how to start it),
the endpoints, and the plans. A new case is one more entry here."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

PG, SQLITE = "PG", "SQLite"  # the two seeded templates a target can start from
REFERENCE = "Stockroom"  # the "vs Stockroom" column divides its req/s by each other target's
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_URL = ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://", 1).rsplit("/", 1)[0]
DEFAULT_URLS = {PG: PG_URL + "/{database}", SQLITE: "sqlite+aiosqlite:///{database}"}


@dataclass(frozen=True)
class Target:
    name: str  # the comparator, as the table shows it
    database: str  # PG or SQLITE: which template its fresh copy comes from
    app: str = "stockroom"  # `stockroom serve`, or a module of bench/baselines
    url: str = ""  # STOCKROOM_DATABASE_URL; "{database}" is the copy's name (PG) or path
    env: dict[str, str] = field(default_factory=dict, hash=False)  # more STOCKROOM_* settings

    @property
    def key(self) -> str:
        return f"{self.name} ({self.database})"

    def database_url(self, database: str) -> str:
        return (self.url or DEFAULT_URLS[self.database]).format(database=database)


STOCKROOM_SQLITE = Target(REFERENCE, SQLITE)
TARGETS = (
    Target(REFERENCE, PG),
    Target("ceiling (raw driver)", PG, app="ceiling"),
    Target("classic async", PG, app="classic_async"),
    Target("classic sync", PG, app="classic_sync"),
    STOCKROOM_SQLITE,
    Target("ceiling (raw driver)", SQLITE, app="ceiling"),
    # e.g. Target("Stockroom via PgBouncer", PG, url=PG_URL.replace(":5432", ":6432") + ...),
)


@dataclass(frozen=True)
class Endpoint:
    """One request shape. In ``path`` and ``body``, ``{n}`` is a random item number (1..1000)
    per request and ``{sku}`` that item's SKU; the probe request uses item 1."""

    label: str
    method: str
    path: str
    body: str = ""
    status: int = 200
    auth: bool = False  # send the seeded customer's bearer token

    def render(self, text: str, number: int) -> str:
        return text.replace("{n}", str(number)).replace("{sku}", sku(number))

    def headers(self, token: str) -> dict[str, str]:
        json_body = {"Content-Type": "application/json"} if self.body else {}
        return json_body | ({"Authorization": f"Bearer {token}"} if self.auth else {})


def sku(number: int) -> str:
    return f"BENCH-{number:05d}"


GET_ITEM = Endpoint("GET /items/{id}", "GET", "/items/{n}")
# One line of one unit of a random SKU: row locks rarely collide, so this measures the stack,
# not one hot row; the stock (1e9 per item) never runs out.
ORDER_BODY = '{"lines": [{"sku": "{sku}", "quantity": 1}]}'
POST_ORDER = Endpoint("POST /orders/", "POST", "/orders/", ORDER_BODY, status=201, auth=True)
ENDPOINTS = (GET_ITEM, Endpoint("GET /items/?limit=20", "GET", "/items/?limit=20"), POST_ORDER)


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: int  # measured, per case (after a 1 s warm-up per endpoint per server start)
    connections: tuple[int, ...]
    repetitions: int  # the table shows medians; the order of targets rotates each time
    targets: tuple[Target, ...] = TARGETS
    endpoints: tuple[Endpoint, ...] = ENDPOINTS
    pgbench: bool = True  # the database limit: bench/pgbench_order.sql at each connection count
    unit_suite: bool = False


PLANS = {
    plan.name: plan
    for plan in (
        Plan("full", seconds=10, connections=(32, 64), repetitions=3, unit_suite=True),
        Plan("quick", seconds=2, connections=(32,), repetitions=1),
        # CI: one short GET on Stockroom + SQLite; needs no PostgreSQL, nor matplotlib.
        Plan("smoke", 2, (32,), 1, (STOCKROOM_SQLITE,), (GET_ITEM,), pgbench=False),
    )
}
