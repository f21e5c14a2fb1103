"""Issue 26 F9 and F10 with the real console script: a planted signing key or ``.env`` stops
``stockroom serve`` and every command with one line and exit 1, and the SQLite database and
what SQLite keeps beside it (-wal, -shm) are created 0600, or made 0600 when found readable."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from entrypoints.secret_key import KEY_FILE_NAME
from tests.api_support import new_password
from tests.integration.cli_support import STOCKROOM, stockroom
from tests.integration.servers import free_port, stockroom_serve

NOBODY = 65534
KEY = "k" * 48


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most shells have (022), which left the files 0644 before: what is checked
    is the mode the service chooses, whatever the operator's umask."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def console(*args: str, folder: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``stockroom ARGS`` in ``folder`` with no ``STOCKROOM_*`` variable but ``env``."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    return subprocess.run(  # noqa: S603 - our own console script
        [STOCKROOM, *args],
        cwd=folder,
        env=clean | env | {"COLUMNS": "250", "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


@pytest.mark.parametrize(("file_mode", "owner"), [(0o666, None), (0o600, NOBODY)])
def test_serve_refuses_a_planted_signing_key(
    tmp_path: Path, file_mode: int, owner: int | None
) -> None:
    key = tmp_path / KEY_FILE_NAME
    key.write_text(KEY)
    key.chmod(file_mode)
    if owner is not None:
        os.chown(key, owner, -1)

    result = console("serve", "--port", str(free_port()), folder=tmp_path)

    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert str(key) in line


def test_every_command_refuses_a_world_writable_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("STOCKROOM_LOW_STOCK_THRESHOLD=3\n")
    env_file.chmod(0o666)

    for command in (("items", "list"), ("serve", "--port", str(free_port()))):
        result = console(*command, folder=tmp_path)
        assert result.returncode == 1, result.stdout + result.stderr
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith("error: ")
        assert ".env has mode 0666" in line
    assert not (tmp_path / "stockroom.db").exists()


def test_serve_creates_the_database_and_its_wal_0600(tmp_path: Path) -> None:
    database = tmp_path / "data.db"
    settings = {
        "STOCKROOM_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "STOCKROOM_SECRET_KEY": KEY,
    }
    with stockroom_serve(settings, tmp_path, workers=1) as base:
        body = {"email": "files@example.com", "password": new_password()}
        assert httpx.post(f"{base}/users/", json=body, timeout=10).status_code == 201
        files = [database, *(Path(f"{database}{suffix}") for suffix in ("-wal", "-shm"))]
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}


def test_db_upgrade_creates_the_database_0600(tmp_path: Path) -> None:
    database = tmp_path / "upgraded.db"
    result = stockroom("db", "upgrade", url=f"sqlite+aiosqlite:///{database}")
    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600


def test_a_database_others_can_read_is_made_0600(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{database}"
    assert stockroom("db", "upgrade", url=url).returncode == 0
    database.chmod(0o644)  # as created before issue 26

    result = stockroom("items", "list", url=url)

    assert result.returncode == 0, result.stderr
    assert mode(database) == 0o600
