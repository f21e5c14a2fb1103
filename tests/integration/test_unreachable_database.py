"""A database or pooler that is down or refuses us: every ``stockroom`` command says so on one
line, with no traceback and no password, and exits 1 (the real console script)."""

from __future__ import annotations

import time
import uuid
from subprocess import CompletedProcess

import pytest
from sqlalchemy.engine import make_url

from adapters.database import Database
from entrypoints.cli.common import REACH_SECONDS
from tests.integration.cli_support import database_name, stockroom
from tests.integration.servers import PgBouncer, free_port

PASSWORD = "never-print-this-pw"

# What asyncpg and psycopg say when nothing listens on the port.
REFUSED = ("Connect call failed", "Connection refused")
COMMANDS = {
    "serve": ("serve", "--port", "1"),  # never bound: the database is checked first
    "db check": ("db", "check"),
    "db upgrade": ("db", "upgrade"),
    "items list": ("items", "list"),
}


def assert_one_line(result: CompletedProcess[str], url: str, *reasons: str) -> None:
    """Exit 1 and one line on stderr naming the URL (password hidden) and one of ``reasons``."""
    shown = make_url(url).render_as_string(hide_password=True)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert result.stderr.splitlines() == [result.stderr.strip()], output  # exactly one line
    prefix = f"error: cannot reach the database at {shown}: "
    assert result.stderr.startswith(prefix), output
    assert any(reason in result.stderr.removeprefix(prefix) for reason in reasons), output
    assert "Traceback" not in output
    assert PASSWORD not in output


@pytest.mark.parametrize("command", COMMANDS)
def test_nothing_listening_is_one_line_for_every_command(command: str) -> None:
    url = f"postgresql+asyncpg://postgres:{PASSWORD}@127.0.0.1:{free_port()}/stockroom"

    result = stockroom(*COMMANDS[command], url=url)

    assert_one_line(result, url, *REFUSED)


@pytest.mark.postgres
def test_serve_behind_a_stopped_pooler_says_so_at_once(
    postgres_database: Database, postgres_url: str, own_pgbouncer: PgBouncer
) -> None:
    url = make_url(own_pgbouncer.url(database_name(postgres_url))).set(password=PASSWORD)
    url_text = url.render_as_string(hide_password=False)
    healthy = stockroom("db", "check", url=url_text, database_pooler="transaction")
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr

    own_pgbouncer.stop()
    started = time.monotonic()
    refused = stockroom(
        "serve", "--port", str(free_port()), url=url_text, database_pooler="transaction"
    )
    elapsed = time.monotonic() - started

    assert_one_line(refused, url_text, *REFUSED)
    # Elapsed time is the behaviour: refused at once, not waited out (REACH_SECONDS is 10 s,
    # well above a command's start-up on a loaded machine).
    assert elapsed < REACH_SECONDS


@pytest.mark.postgres
def test_a_pooler_whose_server_is_down_is_waited_for_only_so_long(postgres_url: str) -> None:
    """PgBouncer accepts the client and holds it while it tries to reach the server; the
    command gives up after ``REACH_SECONDS`` instead of hanging for the pooler's timeouts."""
    bouncer = PgBouncer(
        "transaction",
        make_url(postgres_url).set(port=free_port()).render_as_string(hide_password=False),
    )
    try:
        bouncer.start()
        url = bouncer.url(database_name(postgres_url))
        started = time.monotonic()
        result = stockroom("serve", url=url, database_pooler="transaction")
        elapsed = time.monotonic() - started
    finally:
        bouncer.remove()

    assert_one_line(result, url, f"no answer from the database in {REACH_SECONDS} s")
    # Elapsed time is the behaviour: the command waits REACH_SECONDS for an answer, no less,
    # and then gives up rather than wait out the pooler's own timeouts.
    assert REACH_SECONDS <= elapsed < REACH_SECONDS + 30


@pytest.mark.postgres
@pytest.mark.parametrize("command", ["serve", "db check"])
@pytest.mark.parametrize(
    ("through", "part", "refusal"),
    [
        ("direct", "database", 'database "{}" does not exist'),
        ("direct", "username", 'role "{}" does not exist'),
        ("pooler", "database", 'database "{}" does not exist'),
        # Not in the pooler's auth_file: PgBouncer itself refuses the login.
        ("pooler", "username", '"trust" authentication failed'),
    ],
)
def test_a_refused_login_is_one_line(
    postgres_url: str,
    pgbouncer_transaction: PgBouncer,
    command: str,
    through: str,
    part: str,
    refusal: str,
) -> None:
    # A name of its own: after a failed login PgBouncer holds the next clients of that
    # database and user for server_login_retry (the wait the test above covers).
    missing = f"no_such_{part}_{uuid.uuid4().hex[:8]}"
    base = (
        postgres_url
        if through == "direct"
        else pgbouncer_transaction.url(database_name(postgres_url))
    )
    url = make_url(base).set(password=PASSWORD, **{part: missing})

    result = stockroom(
        *COMMANDS[command],
        url=url.render_as_string(hide_password=False),
        database_pooler="none" if through == "direct" else "transaction",
    )

    assert_one_line(result, url.render_as_string(hide_password=False), refusal.format(missing))
