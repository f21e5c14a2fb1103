"""The core path stays short: the project functions one warm request enters, through the app
``stockroom serve`` builds (``python -m bench.trace``, run here as a script of its own).

Counted as issue 22 counted: the app's functions on the event loop's thread. The budgets are
what the redesign reached (issue 22's goals where it met them: GET /items/{id} at most 17
functions in 8 files; bench/README.md, "The request path", says where and why it did not), so
a change that lengthens the path fails here and has to say why.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import POSTGRES_URL

REPO = Path(__file__).resolve().parents[2]
# (functions, files) at most, per request and database.
# Issue 26 added, on purpose: the server protocol's deadline for a request's head (slowloris;
# ``HeadDeadline.start``/``stop``, one file, on every request) and, on POST /orders/, the
# router's ``no_store`` dependency (one file: an order is one account's, no cache may keep it).
# Issue 24 added, on purpose: the check that a request names only query parameters its route
# declares (``refuse_unknown_query_parameters``: one function, one file, on every request).
# Issue 25 added, on POST /orders/, on purpose: the transactional outbox (+9 functions, +4
# files). The repositories note what they hand out (``Seen.saw``/``saw_all``; the item and
# order repositories' ``__init__`` make their ``Seen``), the aggregates record events
# (``RecordsEvents.events``), and commit() writes them in the order's transaction
# (``_recorded_events``, ``_flush``, ``message_of``, ``SqlAlchemyOutbox.add`` with its
# comprehension, ``to_json``): files domain/events.py, service_layer/outbox.py,
# service_layer/repositories.py, adapters/outbox.py. The low-stock background task's
# ``items_running_low`` (and its comprehension) left the path; its handler runs after commit.
BUDGETS = {
    ("sqlite", "GET /items/{id}"): (17, 10),
    ("sqlite", "POST /orders/"): (79, 31),
    ("postgresql", "GET /items/{id}"): (18, 12),
    ("postgresql", "POST /orders/"): (73, 28),
}


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_the_request_path_stays_within_its_budget(
    database: str, request: pytest.FixtureRequest
) -> None:
    if database == "postgresql":
        request.getfixturevalue("postgres_url")  # fails in CI, skips locally, without a server
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    env["BENCH_TRACE_SERVER"] = POSTGRES_URL
    traced = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, "-m", "bench.trace", "--database", database, "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert traced.returncode == 0, traced.stderr[-3000:]
    paths = json.loads(traced.stdout.splitlines()[-1])
    for name, counts in paths.items():
        functions = counts["app, event loop"]
        files = {where for where, _ in functions}
        most_functions, most_files = BUDGETS[database, name]
        assert len(functions) <= most_functions, (name, functions)
        assert len(files) <= most_files, (name, sorted(files))
        # Nothing of the production seams that are off by default is on the path.
        assert not files & {"adapters/replicas.py", "entrypoints/api/consistency.py"}, name
