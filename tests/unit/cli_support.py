"""The ``stockroom`` command on the fakes, for CLI unit tests: an invoker on a container (the
suite's ``container`` fixture: its units of work and reads use one in-memory store) and the
rows of the tables it prints."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import CliRunner, Result

from entrypoints.cli import app
from entrypoints.container import Container

Run = Callable[..., Result]


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
