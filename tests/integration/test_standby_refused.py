"""A database URL that names a standby (issue 23, "know the primary"): `stockroom serve` and
`stockroom db check` refuse it with one line, before anything is served, against the suite's
own streaming replica."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from entrypoints.api.app import create_app
from entrypoints.api.readiness import STANDBY as STANDBY_READINESS
from tests.api_support import api_client
from tests.integration.conftest import ReplicatedDatabase
from tests.integration.databases import open_database
from tests.integration.failure_support import container_on

pytestmark = pytest.mark.postgres

STOCKROOM = str(Path(sys.executable).with_name("stockroom"))
STANDBY_LINE = (
    "the database is a standby (in recovery): it refuses every write; point "
    "STOCKROOM_DATABASE_URL at the primary (after a failover: the promoted replica)"
)


def _stockroom(*args: str, url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env["STOCKROOM_DATABASE_URL"] = url
    return subprocess.run(  # noqa: S603 - our own command
        [STOCKROOM, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_db_check_refuses_a_standby_in_one_line(
    replicated_database: ReplicatedDatabase, tmp_path: Path
) -> None:
    checked = _stockroom("db", "check", url=replicated_database.replica_url, cwd=tmp_path)

    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"problem: {STANDBY_LINE}" in checked.stdout.splitlines()
    # The primary, checked the same way, is fine on that count.
    primary = _stockroom("db", "check", url=replicated_database.primary_url, cwd=tmp_path)
    assert STANDBY_LINE not in primary.stdout, primary.stdout


def test_serve_refuses_a_standby_in_one_line_and_serves_nothing(
    replicated_database: ReplicatedDatabase, tmp_path: Path
) -> None:
    # Were it to serve, the run would end at _stockroom's timeout: a failure, not a hang.
    served = _stockroom("serve", "--port", "8", url=replicated_database.replica_url, cwd=tmp_path)

    assert served.returncode == 1, served.stdout + served.stderr
    assert served.stderr.strip().splitlines() == [f"error: {STANDBY_LINE}"]


async def test_readiness_fails_on_a_standby_as_the_database(
    replicated_database: ReplicatedDatabase,
) -> None:
    """A primary that becomes a standby (a failover demoted it) fails readiness: every write
    of this instance would fail, unlike a blip, which every instance shares."""
    async with open_database(replicated_database.replica_url) as standby:
        app = create_app(container_on(standby))
        async with api_client(app) as client:
            ready = await client.get("/health/ready")
            dependencies = await client.get("/health/dependencies")

    assert ready.status_code == 503
    assert ready.json() == {"detail": STANDBY_READINESS}
    assert dependencies.status_code == 503
