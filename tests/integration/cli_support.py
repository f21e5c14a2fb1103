"""Running the ``stockroom`` console script as an operator does: a real process, configured
only through the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from adapters.database import Database

STOCKROOM = str(Path(sys.executable).parent / "stockroom")


@dataclass(frozen=True)
class Target:
    """A database for a test to check, and the URL another process (the console script, an
    example) opens it by."""

    database: Database
    url: str

    @classmethod
    def of(cls, database: Database) -> Target:
        return cls(database, database.url.render_as_string(hide_password=False))


def stockroom(*args: str, url: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """The console script on ``url`` with ``STOCKROOM_<NAME>`` ``settings`` and no other
    ``STOCKROOM_`` variable; wide and colourless output, so a line is a line."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env |= {f"STOCKROOM_{name.upper()}": value for name, value in settings.items()}
    env |= {"STOCKROOM_DATABASE_URL": url, "COLUMNS": "250", "NO_COLOR": "1"}
    return subprocess.run(  # noqa: S603 - our own console script
        [STOCKROOM, *args], env=env, capture_output=True, text=True, timeout=90, check=False
    )


def database_name(url: str) -> str:
    return make_url(url).database or ""
