"""What is measured, as data: the targets (a comparator on a database, and how it starts),
the endpoints and the plans. A new case is one more entry in TARGETS or ENDPOINTS."""

import os
from dataclasses import dataclass, field

PG, SQLITE = "PG", "SQLite"  # the seeded templates a target's fresh copy is made from
REPLICATED = "PG, own primary"  # on the run's own primary, which streams to a replica
REFERENCE = "Stockroom"  # "vs Stockroom": its req/s over each other target's, per database
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_SERVER = ADMIN_URL.rsplit("/", 1)[0]  # the admin URL without its database
DEFAULT_URLS = {
    PG: PG_SERVER.replace("postgresql://", "postgresql+asyncpg://", 1) + "/{database}",
    SQLITE: "sqlite+aiosqlite:///{database}",
    REPLICATED: "postgresql+asyncpg://postgres@127.0.0.1:{primary}/{database}",
}
ADMIN_URLS = {PG: ADMIN_URL, REPLICATED: "postgresql://postgres@127.0.0.1:{primary}/postgres"}
REPLICA_URL = "postgresql+asyncpg://postgres@127.0.0.1:{replica}/{database}"
# The same server through the run's PgBouncer in transaction mode (bench/pgbouncer.py).
POOLED_URL = "postgresql+psycopg://postgres@127.0.0.1:{pgbouncer}/{database}"


@dataclass(frozen=True)
class Target:
    name: str  # the comparator, as the table shows it
    database: str  # PG or SQLITE
    app: str = "stockroom"  # `stockroom serve`, or a module of bench/baselines
    url: str = ""  # STOCKROOM_DATABASE_URL when not the copy itself ("{database}": its name)
    env: dict[str, str] = field(default_factory=dict, hash=False)  # more STOCKROOM_* settings
    server: str = "uvicorn"  # the HTTP server it runs on: --server of either command

    @property
    def key(self) -> str:
        return f"{self.name} ({self.database})"

    @property
    def pooled(self) -> bool:
        return "{pgbouncer}" in self.url

    def settings(self, database: str, ports: dict[str, int]) -> dict[str, str]:
        """``STOCKROOM_*`` for a server on ``database``; ``ports``: the run's own servers."""
        url = self.url or DEFAULT_URLS[self.database]
        settings = self.env | {"STOCKROOM_DATABASE_URL": url}
        return {name: value.format(database=database, **ports) for name, value in settings.items()}


TARGETS = (
    STOCKROOM_PG := Target(REFERENCE, PG),
    CEILING_PG := Target("ceiling (raw driver)", PG, app="ceiling"),
    CLASSIC_ASYNC := Target("classic async", PG, app="classic_async"),
    Target("classic sync", PG, app="classic_sync"),
    Target(
        "Stockroom via PgBouncer",
        PG,
        url=POOLED_URL,
        env={"STOCKROOM_DATABASE_POOLER": "transaction"},
    ),
    # What metrics and the held-session detector cost: the same build with both switched off.
    NO_METRICS := Target(
        "Stockroom, no metrics",
        PG,
        env={"STOCKROOM_METRICS_ENABLED": "false", "STOCKROOM_UOW_WARN_SECONDS": "0"},
    ),
    # The same two on Granian (`--server granian`): each server's own Stockroom/ceiling ratio.
    STOCKROOM_GRANIAN := Target("Stockroom on Granian", PG, server="granian"),
    CEILING_GRANIAN := Target(
        "ceiling (raw driver) on Granian", PG, app="ceiling", server="granian"
    ),
    STOCKROOM_SQLITE := Target(REFERENCE, SQLITE),
    CEILING_SQLITE := Target("ceiling (raw driver)", SQLITE, app="ceiling"),
    STOCKROOM_OWN_PRIMARY := Target(REFERENCE, REPLICATED),
    WITH_REPLICA := Target(
        "Stockroom + replica", REPLICATED, env={"STOCKROOM_REPLICA_URLS": REPLICA_URL}
    ),
)


@dataclass(frozen=True)
class Endpoint:
    """One kind of request. In ``path`` and ``body``, ``{n}`` is a random item number per
    request and ``{sku}`` its SKU; the probe request before the load uses item 1."""

    label: str
    method: str
    path: str
    keys: str  # the answer's JSON keys, sorted (a list's first element's): checked by the probe
    body: str = ""
    status: int = 200
    auth: bool = False  # sends the seeded customer's bearer token
    databases: tuple[str, ...] = (PG, SQLITE)  # the targets it is measured on
    after_write: str = ""  # a GET path sent after each request, with the token it returned

    @property
    def per_item(self) -> bool:
        return "{n}" in self.path + self.body or "{sku}" in self.path + self.body

    def render(self, text: str, number: int) -> str:
        return text.replace("{n}", str(number)).replace("{sku}", sku(number))

    def headers(self, token: str) -> dict[str, str]:
        json_body = {"Content-Type": "application/json"} if self.body else {}
        return json_body | ({"Authorization": f"Bearer {token}"} if self.auth else {})


def sku(number: int) -> str:
    return f"BENCH-{number:05d}"


ITEM_KEYS = "description id price quantity sku title"
ORDER_KEYS = "created_at customer_id id lines status total updated_at"
# One unit of one random SKU: row locks rarely collide (this measures the stack, not one hot
# row), and the seeded stock never runs out.
ORDER = '{"lines": [{"sku": "{sku}", "quantity": 1}]}'
ALL = (PG, SQLITE, REPLICATED)
GET_ITEM = Endpoint("GET /items/{id}", "GET", "/items/{n}", ITEM_KEYS, databases=ALL)
LIST_ITEMS = Endpoint("GET /items/?limit=20", "GET", "/items/?limit=20", ITEM_KEYS)
POST_ORDER = Endpoint("POST /orders/", "POST", "/orders/", ORDER_KEYS, ORDER, 201, auth=True)
# Read-your-writes: an order, then its item read with the X-Consistency-Token the order returned.
PAIR = Endpoint("POST + GET with its token", "POST", "/orders/", ORDER_KEYS, ORDER, 201, True,
                databases=(REPLICATED,), after_write="/items/{n}")  # fmt: skip
ENDPOINTS = (GET_ITEM, LIST_ITEMS, POST_ORDER, PAIR)


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: int  # measured per case, after a 1 s warm-up per endpoint at each server start
    connections: tuple[int, ...]
    repetitions: int  # the table shows medians; the targets' order rotates every time
    targets: tuple[Target, ...] = TARGETS
    endpoints: tuple[Endpoint, ...] = ENDPOINTS
    pgbench: bool = True  # the database's limit: bench/pgbench_order.sql at each conn. count


PLANS = {
    "full": Plan("full", seconds=10, connections=(32, 64), repetitions=3),
    "quick": Plan("quick", seconds=2, connections=(32,), repetitions=1),
    # CI: one short GET on Stockroom + SQLite; needs neither PostgreSQL nor matplotlib.
    "smoke": Plan("smoke", 2, (32,), 1, (STOCKROOM_SQLITE,), (GET_ITEM,), pgbench=False),
    # Issue 17's cases alone: Stockroom against the ceiling and classic async, reads and orders.
    "load": Plan(
        "load",
        10,
        (32, 64),
        3,
        (
            *(STOCKROOM_PG, CEILING_PG, CLASSIC_ASYNC, STOCKROOM_GRANIAN, CEILING_GRANIAN),
            *(STOCKROOM_SQLITE, CEILING_SQLITE),
        ),
        (GET_ITEM, POST_ORDER),
        False,
    ),
    # What metrics and the held-session detector cost, alone and longer (goal: within 5%).
    "metrics": Plan(
        "metrics", 5, (32,), 3, (STOCKROOM_PG, NO_METRICS), (GET_ITEM, POST_ORDER), False
    ),
    # The replica cases alone, longer: what routing costs, without the other targets' noise.
    "replicas": Plan(
        "replicas", 5, (32,), 3, (STOCKROOM_OWN_PRIMARY, WITH_REPLICA), (GET_ITEM, PAIR), False
    ),
}
