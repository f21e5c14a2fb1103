"""The published OpenAPI document tells the truth: schemathesis with *all* its checks, against
a real ``stockroom serve`` on a fresh database, finds nothing, as an admin and anonymously.

The CI-sized version of the "Checking the API schema" run in docs/testing.md (which runs
for 60 s): the same command and configuration (``tests/schemathesis/``), a bounded number of
examples per operation and a fixed seed, derandomized, so a run is repeatable and takes well
under a minute.

Why the CLI against a real server rather than ``test_hostile_input.py``'s in-process sender:
several checks need schemathesis' own phases, not only generated cases. Coverage sends the
methods a path does not have (``unsupported_method``, ``allow_header_conformance``) and drops
required headers (``missing_required_header``); the stateful phase chains operations through
the document's links (``use_after_free``, ``ensure_resource_availability``); and
``ignored_auth`` re-sends requests without credentials. ``test_hostile_input.py`` keeps the
in-process checks of every response's shape and what is stored.

What the run tells: a schema-valid request the server refuses (the document does not state a
rule the server enforces), a status, header or body the document does not list, a 405 without
an exact ``Allow``, or any 5xx.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.database import Database
from tests.integration.cli_support import stockroom
from tests.integration.servers import stockroom_serve

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
# The admin's token, fetched from POST /token (and again after the run logs it out), and the
# one documented exception to a check (see the file).
ADMIN_CONFIG = Path(__file__).parent.parent / "schemathesis" / "admin.toml"
ANONYMOUS_CONFIG = Path(__file__).parent.parent / "schemathesis" / "anonymous.toml"
SECRET_KEY = "schema-check-signing-key-" + "0123456789abcdef" * 3
ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "schema-check-admin-password"
# Per operation and phase. Bounded so both runs on both databases stay well within a minute
# on two cores; the documented run goes on for 60 s with schemathesis' defaults.
MAX_EXAMPLES = 5
SEED = 15
# Each run guesses passwords by the hundred (POST /token, and the admin's own password at
# POST /users/me/password): throttling, tested in test_login_throttle_api.py, would lock the
# admin out after five and turn the rest of the run into 429s.
UNTHROTTLED = {
    "STOCKROOM_LOGIN_FREE_FAILURES": "1000000",
    "STOCKROOM_LOGIN_FREE_FAILURES_PER_ACCOUNT": "1000000",
    "STOCKROOM_LOGIN_FREE_FAILURES_PER_ADDRESS": "1000000",
}


@pytest.fixture
def server(fresh_database: Database, tmp_path: Path) -> Iterator[str]:
    url = fresh_database.url.render_as_string(hide_password=False)
    created = stockroom(
        "users", "create-admin", ADMIN_EMAIL, url=url, admin_password=ADMIN_PASSWORD
    )
    assert created.returncode == 0, created.stderr
    settings = {"STOCKROOM_DATABASE_URL": url, "STOCKROOM_SECRET_KEY": SECRET_KEY, **UNTHROTTLED}
    with stockroom_serve(settings, tmp_path, workers=1) as base:
        yield base


def schemathesis_run(
    base: str, config: Path | None, folder: Path
) -> subprocess.CompletedProcess[str]:
    """The command in docs/testing.md, CI-sized: all checks, bounded examples, seeded,
    derandomized. Without a configuration file it runs with no credentials at all."""
    env = os.environ | {
        "STOCKROOM_SCHEMA_CHECK_EMAIL": ADMIN_EMAIL,
        "STOCKROOM_SCHEMA_CHECK_PASSWORD": ADMIN_PASSWORD,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    command = [
        SCHEMATHESIS,
        *(["--config-file", str(config)] if config else []),
        "run",
        f"{base}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-deterministic",  # and so no example database is written
        "--workers",
        "1",
        "--request-timeout",
        "10",
    ]
    return subprocess.run(  # noqa: S603 - the test's own tool, from its own venv
        command, cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize("who", ["admin", "anonymous"])
def test_schemathesis_with_all_checks_finds_nothing(server: str, who: str, tmp_path: Path) -> None:
    config = ADMIN_CONFIG if who == "admin" else ANONYMOUS_CONFIG
    done = schemathesis_run(server, config, tmp_path)

    report = done.stdout[-12_000:] + done.stderr[-2_000:]
    assert done.returncode == 0, f"schemathesis ({who}) found problems:\n{report}"
    # It really ran: every operation of the document, and (as admin) past authentication.
    operations = sum(
        len(methods) for methods in httpx.get(f"{server}/openapi.json").json()["paths"].values()
    )
    assert f"Tested: {operations}" in done.stdout, report
    assert "Authentication Error" not in done.stdout, report
