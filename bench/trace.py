"""``python -m bench.trace [--database sqlite|postgresql] [--json]``: the path of one request.

Every function of ``domain/``, ``service_layer/``, ``adapters/`` and ``entrypoints/`` that one
warm request enters, through the app ``stockroom serve`` builds (its app factory, served by
uvicorn with the same HTTP protocol class, in this process), for ``GET /items/{id}`` and for
``POST /orders/``. How we know the core path stays short (docs/session-lifecycle.md);
``tests/integration/test_request_path.py`` holds the limits.

Each request is traced three times after a warm-up; the shortest trace is reported, so that a
timer firing in the middle (the pool gauges' sampler) is not counted as the request's.

Two counts per request. "App, event loop": the functions the app enters on the event loop's
thread, which is how issue 22 counted (this counter gives its figures on the code before it:
27 functions in 13 files for GET on SQLite). "Everything": also what runs on other threads
for the request (SQLite's reader and writer-lock threads) and what the server runs around the
app (our uvicorn protocol's header limit, the access line's request-id filter).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("domain", "adapters", "service_layer", "entrypoints")
ROOTS = tuple(str(REPO / package) + os.sep for package in PACKAGES)
POSTGRES_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
SECRET = "trace-signing-key-" + "0123456789abcdef" * 4


# What the server runs around the app, not the app: the protocol class that holds the header
# limit (entrypoints/cli/servers.py) and the request-id filter of the access line it logs.
SERVER_SIDE = ("entrypoints/api/header_guard.py", "RequestIdFilter.filter")

Function = tuple[str, str]  # file, qualified name


class Tracer:
    """A profile hook on every thread that records the project's functions while on."""

    def __init__(self) -> None:
        self.on = False
        self.loop_thread = threading.get_ident()
        self.seen: set[tuple[str, str, bool]] = set()

    def hook(self, frame: FrameType, event: str, _arg: Any) -> None:
        if event == "call" and self.on:
            code = frame.f_code
            if code.co_filename.startswith(ROOTS):
                where = code.co_filename.removeprefix(str(REPO) + os.sep)
                on_loop = threading.get_ident() == self.loop_thread
                self.seen.add((where, code.co_qualname, on_loop))

    def install(self) -> None:
        sys.setprofile(self.hook)
        threading.setprofile(self.hook)  # the SQLite reader's and aiosqlite's threads

    async def trace(
        self, request: Callable[[], Awaitable[httpx.Response]]
    ) -> set[tuple[str, str, bool]]:
        self.seen, self.on = set(), True
        try:
            response = await request()
            await asyncio.sleep(0.02)  # the access line is written as the response goes out
        finally:
            self.on = False
        if response.status_code >= 400:
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
        return self.seen


async def _seed() -> tuple[int, str]:
    """An item with plenty of stock and a customer's token, made by the service layer."""
    from entrypoints.container import build_container, dispose
    from service_layer.services import items, users

    container = build_container()
    try:
        item = await items.add_item(
            container.uow(),
            items.NewItem(title="Traced", sku="TRACE-1", price=Decimal("8.00"), quantity=10**6),
        )
        customer = await users.register(
            container.uow(), container.password_hasher(), "trace@example.com", "trace-password-1"
        )
        token = container.token_codec().issue(
            customer.id, customer.role.value, credentials_version=customer.credentials_version
        )
        return item.id, token
    finally:
        await dispose(container)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def app_on_the_loop(seen: set[tuple[str, str, bool]]) -> list[Function]:
    """Issue 22's count: the app's functions on the event loop's thread."""
    return sorted(
        {
            (where, name)
            for where, name, on_loop in seen
            if on_loop and where not in SERVER_SIDE and name not in SERVER_SIDE
        }
    )


def everything(seen: set[tuple[str, str, bool]]) -> list[Function]:
    return sorted({(where, name) for where, name, _ in seen})


async def _measure(repetitions: int = 3) -> dict[str, dict[str, list[Function]]]:
    import uvicorn

    from entrypoints.cli.servers import APP_FACTORY, HTTP_PROTOCOL
    from entrypoints.logging_config import log_config

    item_id, token = await _seed()
    tracer = Tracer()
    tracer.install()
    port = _free_port()
    config = uvicorn.Config(
        APP_FACTORY, factory=True, host="127.0.0.1", port=port, http=HTTP_PROTOCOL,
        log_config=log_config("text", "WARNING"),
    )  # fmt: skip
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    headers = {"Authorization": f"Bearer {token}"}
    order = {"lines": [{"sku": "TRACE-1", "quantity": 1}]}
    paths: dict[str, dict[str, list[Function]]] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            requests = {
                "GET /items/{id}": lambda: client.get(f"/items/{item_id}"),
                "POST /orders/": lambda: client.post("/orders/", json=order, headers=headers),
            }
            for name, request in requests.items():
                for _ in range(5):  # warm: pools filled, statements cached, codecs built
                    (await request()).raise_for_status()
                traces = [await tracer.trace(request) for _ in range(repetitions)]
                paths[name] = {
                    "app, event loop": min((app_on_the_loop(t) for t in traces), key=len),
                    "everything": min((everything(t) for t in traces), key=len),
                }
    finally:
        server.should_exit = True
        await serving
    return paths


def _environment(database: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """The database URL to trace on, and how to drop it afterwards."""
    if database == "sqlite":
        return f"sqlite+aiosqlite:///{workdir / 'trace.db'}", lambda: None
    import asyncpg
    from sqlalchemy.engine import make_url

    name = f"trace_{uuid.uuid4().hex[:10]}"
    admin = make_url(os.environ.get("BENCH_TRACE_SERVER", POSTGRES_SERVER))

    async def run(statement: str) -> None:
        dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    url = admin.set(database=name).render_as_string(hide_password=False)
    return url, lambda: asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", action="store_true", help="the functions, as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stockroom-trace-") as workdir:
        url, drop = _environment(args.database, Path(workdir))
        os.environ.update(
            STOCKROOM_DATABASE_URL=url,
            STOCKROOM_SECRET_KEY=SECRET,
            STOCKROOM_PURGE_INTERVAL_SECONDS="0",  # no timer of its own in the window
        )
        try:
            from entrypoints.migrations import upgrade

            upgrade(url)
            paths = asyncio.run(_measure())
        finally:
            drop()
    if args.json:
        print(json.dumps(paths))
        return 0
    for name, counts in paths.items():
        for kind, functions in counts.items():
            files = sorted({path for path, _ in functions})
            size = f"{len(functions)} functions in {len(files)} files"
            print(f"{name} on {args.database}, {kind}: {size}")
            if kind == "everything":
                continue
            for path in files:
                names = ", ".join(function for where, function in functions if where == path)
                print(f"  {path}: {names}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
