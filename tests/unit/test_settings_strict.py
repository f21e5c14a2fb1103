"""Settings that cannot silently miss (issue 23): a misspelt ``STOCKROOM_*`` variable is
refused with the setting it most looks like, from the environment or the ``.env`` file, and
production never falls back to the local SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from entrypoints.settings import NOT_SETTINGS, Settings, unknown_variables

KEY = "k" * 40


def test_a_misspelt_variable_is_refused_with_a_suggestion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STOCKROOM_DATABSE_URL", "postgresql+asyncpg://db/shop")
    with pytest.raises(ValidationError, match="did you mean STOCKROOM_DATABASE_URL"):
        Settings()


def test_a_misspelt_name_in_the_env_file_is_refused_too(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("OTHER_TOOL=1\nSTOCKROOM_POOL_SIZES=20\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationError, match="STOCKROOM_POOL_SIZES is not a setting"):
        Settings()


def test_names_without_the_prefix_and_the_clis_own_variables_are_left_alone() -> None:
    names = ["PATH", "OTHER_TOOL", "STOCKROOM_POOL_SIZE", "stockroom_pool_size", *NOT_SETTINGS]
    assert unknown_variables(names) == []
    assert unknown_variables(["STOCKROOM_WHATEVER"]) == ["STOCKROOM_WHATEVER is not a setting"]


def test_production_needs_the_database_url_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOCKROOM_DATABASE_URL", raising=False)
    with pytest.raises(ValidationError, match="never falls back to a local SQLite file"):
        Settings(production=True, secret_key=KEY)
    given = Settings(production=True, secret_key=KEY, database_url="postgresql+asyncpg://db/x")
    assert given.database_url == "postgresql+asyncpg://db/x"
    # Out of production the embedded default stays: the newcomer's zero-setup start.
    assert Settings().database_url.startswith("sqlite+aiosqlite:")
