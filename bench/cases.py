"""What ``python -m bench`` measures, as data: the targets (a server on a database, and the
environment it starts with), the two endpoints, and the plans. A row more is a Target more."""

import os
from dataclasses import dataclass, field
from pathlib import Path

PG, SQLITE = "PG", "SQLite"  # the seeded templates a target's fresh copy is made from
OWN_PRIMARY = "own primary"  # the run's own PostgreSQL primary, streaming to a replica
REFERENCE = "Stockroom"  # each ratio: a row's req/s over this target's, on the same database
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
URLS = {  # STOCKROOM_DATABASE_URL; "{database}" is the copy, the other fields the run's ports
    PG: ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    + "/{database}",
    SQLITE: "sqlite+aiosqlite:///{database}",
    OWN_PRIMARY: "postgresql+asyncpg://postgres@127.0.0.1:{primary}/{database}",
}
ADMIN_URLS = {PG: ADMIN_URL, OWN_PRIMARY: "postgresql://postgres@127.0.0.1:{primary}/postgres"}
# The code before issue 22, checked out beside this tree (a worktree of main, read-only) and
# served from the same venv: PYTHONPATH puts it ahead of the editable install's finder.
BEFORE_TREE = Path(os.environ.get("BENCH_BEFORE_TREE", "/tmp/oldmain"))


@dataclass(frozen=True)
class Target:
    name: str  # the row, as the table shows it
    database: str = PG
    app: str = "stockroom"  # `stockroom serve`, or a module of bench/baselines
    env: dict[str, str] = field(default_factory=dict, hash=False)  # added to the server's

    @property
    def key(self) -> str:
        return f"{self.name} ({self.database})"

    def environment(self, database: str, ports: dict[str, int]) -> dict[str, str]:
        """The server's variables for a copy named ``database``, with the run's ``ports``."""
        settings = {"STOCKROOM_DATABASE_URL": URLS[self.database]} | self.env
        return {name: value.format(database=database, **ports) for name, value in settings.items()}


# Each optional layer of Stockroom, switched off by its setting (entrypoints/settings.py).
NO_METRICS = {"STOCKROOM_METRICS_ENABLED": "false", "STOCKROOM_UOW_WARN_SECONDS": "0"}
NO_ACCESS_LOG = {"STOCKROOM_ACCESS_LOG": "false"}
NO_REQUEST_IDS = {"STOCKROOM_REQUEST_IDS": "false"}
NO_BODY_GUARD = {"STOCKROOM_MAX_BODY_BYTES": "0"}
CEILING, CLASSIC_ASYNC = "ceiling (raw driver)", "classic async"
PATTERN_ALONE = "everything off: the pattern alone"
BEFORE = "Stockroom before (account checked in the order's unit)"

TARGETS: tuple[Target, ...] = (
    Target(REFERENCE),
    Target("- metrics (and the held-unit timer)", env=NO_METRICS),
    Target("- access log", env=NO_ACCESS_LOG),
    Target("- request id", env=NO_REQUEST_IDS),
    Target("- body guard", env=NO_BODY_GUARD),
    Target(PATTERN_ALONE, env=NO_METRICS | NO_ACCESS_LOG | NO_REQUEST_IDS | NO_BODY_GUARD),
    # Spans built and exported over OTLP/HTTP to the run's own sink (bench/run.py).
    Target("+ tracing", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:{otlp}"}),
    Target(CEILING, app="ceiling"),
    Target(CLASSIC_ASYNC, app="classic_async"),
    Target("advanced-alchemy", app="advanced_alchemy_app"),
    # The replica row needs a primary of the run's own: its reference is Stockroom there.
    Target(REFERENCE, OWN_PRIMARY),
    Target(
        "+ a replica configured",
        OWN_PRIMARY,
        env={"STOCKROOM_REPLICA_URLS": URLS[OWN_PRIMARY].replace("{primary}", "{replica}")},
    ),
)
if (BEFORE_TREE / "entrypoints").is_dir():  # only where that tree is checked out
    TARGETS += (Target(BEFORE, env={"PYTHONPATH": str(BEFORE_TREE)}),)


@dataclass(frozen=True)
class Endpoint:
    """One kind of request. In ``path`` and ``body``, ``{sku}`` is the SKU of a random item
    number ``{n}`` per request; the probe before the load uses item 1."""

    label: str
    method: str
    path: str
    keys: str  # the answer's JSON keys, sorted: checked by the probe on every target
    body: str = ""
    status: int = 200
    auth: bool = False  # sends the seeded customer's bearer token

    def render(self, text: str, number: int) -> str:
        return text.replace("{n}", str(number)).replace("{sku}", sku(number))

    def headers(self, token: str) -> dict[str, str]:
        json_body = {"Content-Type": "application/json"} if self.body else {}
        return json_body | ({"Authorization": f"Bearer {token}"} if self.auth else {})


def sku(number: int) -> str:
    return f"BENCH-{number:05d}"


ITEM_KEYS = "currency description id price quantity sku title"
GET_ITEM = Endpoint("GET /items/{id}", "GET", "/items/{n}", ITEM_KEYS)
# One unit of one random SKU: row locks rarely collide (this measures the stack, not one hot
# row), and the seeded stock never runs out.
ORDER_KEYS = "created_at currency customer_id id lines status total updated_at"
POST_ORDER = Endpoint(
    "POST /orders/", "POST", "/orders/", ORDER_KEYS,
    body='{"lines": [{"sku": "{sku}", "quantity": 1}]}', status=201, auth=True,
)  # fmt: skip


@dataclass(frozen=True)
class Plan:
    name: str
    seconds: int  # measured per case, after a 1 s warm-up per endpoint at each server start
    connections: tuple[int, ...]
    repetitions: int  # the tables show medians; the targets' order rotates every time
    targets: tuple[Target, ...] = TARGETS
    endpoints: tuple[Endpoint, ...] = (GET_ITEM, POST_ORDER)


PLANS = {
    "full": Plan("full", seconds=10, connections=(32, 64), repetitions=3),
    "quick": Plan("quick", seconds=2, connections=(32,), repetitions=1),
    # CI: one short GET on Stockroom + SQLite; needs no PostgreSQL and no bench-only package.
    "smoke": Plan("smoke", 2, (32,), 1, (Target(REFERENCE, SQLITE),), (GET_ITEM,)),
}
