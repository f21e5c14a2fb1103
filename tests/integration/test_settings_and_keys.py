"""Signing-key resolution and settings: files on disk and separate processes, so integration."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from entrypoints.secret_key import KEY_FILE_NAME, development_key_path, load_or_create_key
from entrypoints.settings import Settings


def test_development_key_lives_beside_the_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'shop.db'}"
    assert development_key_path(url) == tmp_path / "data" / KEY_FILE_NAME


def test_development_key_is_created_once_and_then_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / KEY_FILE_NAME
    with caplog.at_level(logging.INFO, logger="entrypoints.secret_key"):
        first = load_or_create_key(path)
    assert f"generated a development signing key in {path}" in caplog.text
    assert len(first) >= 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == first
    assert [entry.name for entry in tmp_path.iterdir()] == [KEY_FILE_NAME]  # no temp files left


def test_workers_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    script = (
        "import sys; from pathlib import Path; "
        "from entrypoints.secret_key import load_or_create_key; "
        "print(load_or_create_key(Path(sys.argv[1])))"
    )
    workers = [
        subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    keys = {worker.communicate(timeout=60)[0].strip() for worker in workers}
    assert keys == {path.read_text().strip()}


def test_a_truncated_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE_NAME
    path.write_text("short")
    path.chmod(0o600)  # private, as the service makes it: refused for its length alone
    with pytest.raises(RuntimeError, match="delete it"):
        load_or_create_key(path)


def test_production_refuses_to_start_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKROOM_PRODUCTION", "true")
    monkeypatch.delenv("STOCKROOM_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="STOCKROOM_SECRET_KEY"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("STOCKROOM_SECRET_KEY", "k" * 40)
    # Production also needs its database named (issue 23: never the local SQLite fallback).
    monkeypatch.setenv("STOCKROOM_DATABASE_URL", "postgresql+asyncpg://db.example/shop")
    assert Settings(_env_file=None).production is True  # type: ignore[call-arg]


def test_a_short_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STOCKROOM_SECRET_KEY", "too-short")
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_serve_in_production_without_a_key_exits_with_a_clear_message(tmp_path: Path) -> None:
    stockroom = str(Path(sys.executable).parent / "stockroom")
    env = {"PATH": "/usr/bin:/bin", "STOCKROOM_PRODUCTION": "true"}
    result = subprocess.run(  # noqa: S603 - our own console script
        [stockroom, "serve", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "STOCKROOM_SECRET_KEY" in result.stdout + result.stderr
    assert not (tmp_path / "stockroom.db").exists()
