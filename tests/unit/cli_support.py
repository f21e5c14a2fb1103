"""The ``stockroom`` command on the fakes, for CLI unit tests: a container whose units of work
and reads use one in-memory store, an invoker, and the rows of the tables it prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from dependency_injector import providers
from typer.testing import CliRunner, Result

from entrypoints.cli import app
from entrypoints.container import Container
from tests.api_support import build_test_container
from tests.fakes import InMemoryStore, use_fakes

Run = Callable[..., Result]


class RecordingDatabase:
    """Stands in for the database, which the CLI disposes after every command.

    Disposing a real, never-connected database would be harmless, but building one calls
    ``start_mappers()``, which instruments ``Item`` for the rest of the process: items the fake
    stored before that can no longer be changed (an AttributeError from SQLAlchemy), so the
    outcome of a test would depend on which test ran first.
    """

    def __init__(self) -> None:
        self.disposals = 0

    async def dispose(self) -> None:
        self.disposals += 1


@contextmanager
def fake_container(store: InMemoryStore, database: RecordingDatabase) -> Iterator[Container]:
    container = build_test_container()
    with use_fakes(container, store), container.database.override(providers.Object(database)):
        yield container


def invoker(container: Container) -> Run:
    # Wide enough that rich never wraps a table cell; no colour codes in captured output.
    runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1"})

    def invoke(*args: str) -> Result:
        return runner.invoke(app, list(args), obj=container)

    return invoke


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a table the CLI prints, cell by cell."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]
