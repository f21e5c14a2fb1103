"""The ``stockroom`` command as a user runs it: a real process, a real database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import empty_postgres_database
from tests.integration.servers import wait_until_serving

STOCKROOM = str(Path(sys.executable).parent / "stockroom")


def stockroom(*args: str, url: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "STOCKROOM_DATABASE_URL": url, "COLUMNS": "200"}
    return subprocess.run(  # noqa: S603 - our own console script
        [STOCKROOM, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_script_round_trip_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    assert stockroom("db", "upgrade", url=url).returncode == 0

    added = stockroom(
        "items",
        "add",
        "--title",
        "Widget",
        "--sku",
        "w-1",
        "--price",
        "2.50",
        "--quantity",
        "4",
        url=url,
    )
    assert added.returncode == 0, added.stderr
    assert "W-1" in added.stdout

    duplicate = stockroom("items", "add", "--title", "Again", "--sku", "W-1", url=url)
    assert duplicate.returncode == 1
    assert "W-1" in duplicate.stderr

    restocked = stockroom("items", "restock", "1", "6", url=url)
    assert restocked.returncode == 0, restocked.stderr

    listed = stockroom("items", "list", url=url)
    assert listed.returncode == 0
    assert "Widget" in listed.stdout
    assert "Again" not in listed.stdout
    assert "2.50" in listed.stdout
    assert "10" in listed.stdout
    # The one row, cell by cell: the restock added to the stock the item was created with.
    [row] = [line for line in listed.stdout.splitlines() if "Widget" in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        "1",
        "W-1",
        "Widget",
        "2.50",
        "10",
    ]


@pytest.mark.postgres
async def test_serve_refuses_a_postgres_schema_that_is_not_migrated() -> None:
    async with empty_postgres_database("stockroom_test_cli") as url:
        refused = stockroom("serve", "--port", "1", url=url)
        assert refused.returncode == 1
        assert "stockroom db upgrade" in refused.stderr

        assert stockroom("db", "upgrade", url=url).returncode == 0
        added = stockroom("items", "add", "--title", "On Postgres", url=url)
        assert added.returncode == 0, added.stderr
        assert "On Postgres" in stockroom("items", "list", url=url).stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """`stockroom serve` in an empty folder with no configuration at all: the newcomer's path."""
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    # The one setting: metrics on a port the system picks, not the default 9464 another
    # server on this machine (make run, a second test run) may hold.
    env["STOCKROOM_METRICS_PORT"] = "0"
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            [STOCKROOM, "serve", "--port", str(port), "--workers", str(request.param)],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, log_path)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_serve_works_with_zero_setup(served: str, tmp_path: Path) -> None:
    """Nothing configured: SQLite is created and migrated, a signing key is generated beside
    it, and a customer can register, log in and see themselves, with real Argon2 hashing."""
    assert httpx.get(f"{served}/items/", timeout=5).json() == []
    assert httpx.post(f"{served}/items/", json={"title": "x"}, timeout=5).status_code == 401

    credentials = {"email": "first@example.com", "password": "a long enough password"}
    registered = httpx.post(f"{served}/users/", json=credentials, timeout=5)
    assert registered.status_code == 201, registered.text
    login = {"username": credentials["email"], "password": credentials["password"]}
    token = httpx.post(f"{served}/token", data=login, timeout=5).json()["access_token"]
    # Fresh connections spread over the workers: every one must accept a token signed by
    # whichever worker handled the login, so all of them share the generated key.
    for _ in range(10):
        me = httpx.get(
            f"{served}/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert me.json() == registered.json()

    assert (tmp_path / "stockroom.db").exists()
    assert (tmp_path / ".stockroom-secret").stat().st_mode & 0o777 == 0o600


def test_first_command_on_a_fresh_embedded_database_migrates_it(tmp_path: Path) -> None:
    """Regression: `users create-admin` before any `serve` failed with "no such table"."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env["STOCKROOM_ADMIN_PASSWORD"] = "a fine password"
    result = subprocess.run(  # noqa: S603 - our own console script
        [STOCKROOM, "users", "create-admin", "first@example.com"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "created admin first@example.com" in result.stdout
    assert "a fine password" not in result.stdout + result.stderr
    assert (tmp_path / "stockroom.db").exists()
