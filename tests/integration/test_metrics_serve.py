"""The metrics of a real `stockroom serve`, on a listener of their own (issue 26, F12), never on
the API's port. With `--workers 2`, after a known mix of requests, on SQLite and PostgreSQL:
request counts add up across the workers, units of work report their outcomes by use case, and
the pool gauges are there for each worker that served. With one worker, port 0 picks a free
port and the log says which; a taken port is refused in one line; metrics off open nothing."""

from __future__ import annotations

import re
import secrets
import socket
from datetime import timedelta
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from adapters.database import Database
from adapters.passwords import Argon2PasswordHasher
from adapters.tokens import JwtTokenCodec
from service_layer.services import users as user_services
from tests.conftest import FAST_ARGON2
from tests.integration.cli_support import stockroom
from tests.integration.servers import accepts_connections, free_port, stockroom_serve
from tests.integration.units import unit_of_work

SECRET_KEY = "metrics-signing-key-" + "0123456789abcdef" * 3
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _tokens(database: Database) -> tuple[str, str]:
    """An admin's and a customer's bearer tokens, their accounts made through the services."""
    hasher = Argon2PasswordHasher(**FAST_ARGON2)
    run = secrets.token_hex(3)
    admin, _ = await user_services.create_admin(
        unit_of_work(database), hasher, f"admin-{run}@example.com", "pw-12345678"
    )
    customer = await user_services.register(
        unit_of_work(database), hasher, f"buyer-{run}@example.com", "pw-12345678"
    )
    codec = JwtTokenCodec(SECRET_KEY, timedelta(minutes=30))
    return (
        codec.issue(admin.id, "admin", credentials_version=admin.credentials_version),
        codec.issue(customer.id, "customer", credentials_version=customer.credentials_version),
    )


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of ``name`` with these labels (and any others: pid)."""
    wanted = set(labels.items())
    return sum(
        value for (sample, have), value in samples.items() if sample == name and wanted <= have
    )


async def test_a_known_mix_adds_up_across_two_workers(
    fresh_database: Database, tmp_path: Path
) -> None:
    admin, customer = await _tokens(fresh_database)
    metrics_port = free_port()
    settings = {
        "STOCKROOM_DATABASE_URL": fresh_database.url.render_as_string(hide_password=False),
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        "STOCKROOM_METRICS_PORT": str(metrics_port),
    }
    with stockroom_serve(settings, tmp_path, workers=2) as base:
        # A new connection for each request: the kernel spreads them over both workers.
        async with httpx.AsyncClient(
            base_url=base, limits=httpx.Limits(max_keepalive_connections=0)
        ) as client:
            as_admin = {"Authorization": f"Bearer {admin}"}
            created = [
                await client.post(
                    "/items/", json={"title": f"T{n}", "sku": f"M-{n}"}, headers=as_admin
                )
                for n in range(5)
            ]
            duplicates = [
                await client.post("/items/", json={"title": "T", "sku": "M-0"}, headers=as_admin)
                for _ in range(3)
            ]
            reads = [await client.get(f"/items/{created[n % 5].json()['id']}") for n in range(30)]
            orders = [
                await client.get("/orders/", headers={"Authorization": f"Bearer {customer}"})
                for _ in range(4)
            ]
            on_the_api_port = await client.get("/metrics")
            scraped = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")

    assert on_the_api_port.status_code == 404
    assert [r.status_code for r in created] == [201] * 5
    assert [r.status_code for r in duplicates] == [409] * 3
    assert [r.status_code for r in reads] == [200] * 30
    assert [r.status_code for r in orders] == [200] * 4
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    samples = _samples(scraped.text)

    requests = "stockroom_http_requests_total"
    assert _value(samples, requests, route="/items/{item_id}", method="GET", status="200") == 30
    assert _value(samples, requests, route="/items/", method="POST", status="201") == 5
    assert _value(samples, requests, route="/items/", method="POST", status="409") == 3
    assert _value(samples, requests, route="/orders/", method="GET", status="200") == 4
    units = "stockroom_units_of_work_total"
    assert _value(samples, units, use_case="add_item", outcome="committed") == 5
    assert _value(samples, units, use_case="add_item", outcome="failed") == 3
    assert _value(samples, units, use_case="list_orders", outcome="rolled_back") == 4
    assert _value(samples, "stockroom_unit_of_work_seconds_count", use_case="add_item") == 8
    assert _value(samples, "stockroom_units_of_work_open") == 0
    # Per worker (a pid each): every worker that served has its pool's gauges.
    sizes = [
        v
        for (name, labels), v in samples.items()
        if name == "stockroom_pool_size" and ("pool", "primary") in labels
    ]
    assert sizes, "no pool gauge for any worker"
    assert all(size == 10 for size in sizes), sizes
    assert _value(samples, "stockroom_pool_checked_out", pool="primary") == 0
    assert _value(samples, "stockroom_pool_connections_opened_total") >= 1


def _log(folder: Path) -> str:
    (path,) = folder.glob("serve-*.log")  # stockroom_serve's stdout and stderr
    return path.read_text()


async def test_one_worker_serves_its_metrics_on_the_port_the_system_picked(tmp_path: Path) -> None:
    """With one worker the app runs in the serve process itself: the listener reads it there."""
    settings = {
        "STOCKROOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'one.db'}",
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        "STOCKROOM_METRICS_PORT": "0",
    }
    with stockroom_serve(settings, tmp_path, workers=1) as base:
        said = re.search(r"Metrics on http://127\.0\.0\.1:(\d+)/metrics", _log(tmp_path))
        assert said is not None, _log(tmp_path)
        async with httpx.AsyncClient(base_url=base) as client:
            answers = [(await client.get("/items/")).status_code for _ in range(3)]
            on_the_api_port = await client.get("/metrics")
            scraped = await client.get(f"http://127.0.0.1:{said[1]}/metrics")

    assert answers == [200] * 3
    assert on_the_api_port.status_code == 404
    samples = _samples(scraped.text)
    requests = "stockroom_http_requests_total"
    assert _value(samples, requests, route="/items/", method="GET", status="200") == 3


def test_a_taken_metrics_port_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'taken.db'}"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        done = stockroom("serve", "--port", str(free_port()), url=url, metrics_port=str(taken))

    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    said = f"error: cannot serve metrics on 127.0.0.1:{taken}: "
    assert done.stderr.startswith(said), done.stderr


async def test_metrics_off_open_no_listener(tmp_path: Path) -> None:
    metrics_port = free_port()
    settings = {
        "STOCKROOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'off.db'}",
        "STOCKROOM_SECRET_KEY": SECRET_KEY,
        "STOCKROOM_METRICS_ENABLED": "false",
        "STOCKROOM_METRICS_PORT": str(metrics_port),
    }
    with stockroom_serve(settings, tmp_path, workers=2) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            assert (await client.get("/items/")).status_code == 200
            assert (await client.get("/metrics")).status_code == 404
        listening = accepts_connections(metrics_port)
        logged = _log(tmp_path)

    assert not listening
    assert "Metrics on" not in logged
