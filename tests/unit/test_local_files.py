"""Issue 26 F9: a ``.env`` or development key that another user could have written (or, for
the key, read) is refused, never used: a planted key forged an admin token. Tests run as root
here, so "another user" is a file chowned to nobody (65534)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entrypoints.local_files import UntrustedFile, check_trusted_path
from entrypoints.secret_key import KEY_FILE_NAME, load_or_create_key
from entrypoints.settings import Settings

NOBODY = 65534
KEY = "k" * 48


def planted(path: Path, *, mode: int = 0o600, owner: int | None = None) -> Path:
    path.write_text(KEY)
    path.chmod(mode)
    if owner is not None:
        os.chown(path, owner, -1)
    return path


@pytest.mark.parametrize(
    ("mode", "owner", "problem"),
    [
        (0o666, None, "mode 0666"),
        (0o620, None, "mode 0620"),
        (0o604, None, "mode 0604"),  # readable by others: they could forge tokens with it
        (0o600, NOBODY, f"belongs to user id {NOBODY}"),
    ],
)
def test_a_planted_key_is_refused(
    tmp_path: Path, mode: int, owner: int | None, problem: str
) -> None:
    path = planted(tmp_path / KEY_FILE_NAME, mode=mode, owner=owner)
    with pytest.raises(UntrustedFile, match=problem):
        load_or_create_key(path)


def test_a_key_only_its_owner_can_read_is_used(tmp_path: Path) -> None:
    path = planted(tmp_path / KEY_FILE_NAME, mode=0o400)
    assert load_or_create_key(path) == KEY


@pytest.mark.parametrize(
    ("mode", "owner", "problem"),
    [
        (0o666, None, "mode 0666"),
        (0o664, None, "mode 0664"),
        (0o644, NOBODY, f"belongs to user id {NOBODY}"),
    ],
)
def test_settings_refuse_a_planted_env_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: int, owner: int | None, problem: str
) -> None:
    env = tmp_path / ".env"
    env.write_text("STOCKROOM_SECRET_KEY=" + KEY + "\n")
    env.chmod(mode)
    if owner is not None:
        os.chown(env, owner, -1)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UntrustedFile, match=problem):
        Settings()


def test_an_env_file_others_may_only_read_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tmp_path / ".env"
    env.write_text("STOCKROOM_SECRET_KEY=" + KEY + "\n")
    env.chmod(0o644)  # a checkout's usual mode: readable, written only by its owner
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STOCKROOM_SECRET_KEY", raising=False)
    settings = Settings()
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == KEY


def test_settings_refuse_a_planted_development_key_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planted(tmp_path / KEY_FILE_NAME, mode=0o666)
    monkeypatch.delenv("STOCKROOM_SECRET_KEY", raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}"
    with pytest.raises(UntrustedFile, match=str(tmp_path / KEY_FILE_NAME)):
        Settings(database_url=url)
    # With a key of its own the service never reads the file: nothing to refuse.
    assert Settings(database_url=url, secret_key=KEY).secret_key is not None


def test_no_file_is_nothing_to_refuse(tmp_path: Path) -> None:
    check_trusted_path(tmp_path / "absent")
