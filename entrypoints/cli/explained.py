"""Operational mistakes, explained in one line: the one place where the ``stockroom`` command
turns the errors an operator can fix (a bad setting, a URL we cannot use, an unknown
revision, a schema behind the code, a file it cannot write) into one line on stderr and a
non-zero exit, instead of a traceback of the library that noticed.

Anything else is a bug and keeps its traceback. ``--debug`` (or ``STOCKROOM_DEBUG=1``) shows
the traceback of an explained error too, for when the one line is not enough.

Domain errors and an unreachable database are one line already, where the use case runs
(``entrypoints.cli.common.run_on``): that is where the URL to name is known.
"""

from __future__ import annotations

from typing import Any

import typer
from alembic.util import CommandError
from pydantic import ValidationError
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError
from typer.core import TyperGroup

from entrypoints.cli.common import errors
from entrypoints.migrations import SchemaNotAtHead

CONFIGURATION_ERROR = 2  # as a usage error: the command was never going to work


class ExplainingGroup(TyperGroup):
    """The root command group: every subcommand runs inside its ``invoke``."""

    def invoke(self, ctx: Any) -> Any:  # Any: the Context of the click that typer carries
        try:
            return super().invoke(ctx)
        except ValidationError as error:
            if ctx.params.get("debug"):
                raise
            _explain("configuration error: ", settings_problems(error), CONFIGURATION_ERROR)
        except (CommandError, SchemaNotAtHead, SQLAlchemyError, OSError) as error:
            # A closed pipe (`stockroom --help | head`) is not a mistake to explain.
            if ctx.params.get("debug") or isinstance(error, BrokenPipeError):
                raise
            _explain("error: ", explanation(error), 1)


def _explain(label: str, line: str, code: int) -> None:
    # soft_wrap: one line whatever the terminal's width, so a script can grep it.
    errors.print(Text.assemble((label, "red"), line), soft_wrap=True)
    raise typer.Exit(code=code)


def settings_problems(error: ValidationError) -> str:
    """``STOCKROOM_POOL_SIZE: Input should be ...; ...``: each variable named, and only
    pydantic's message, never its rendering, which would echo the value (a secret key, say)."""
    problems = []
    for problem in error.errors():
        name = "_".join(str(part) for part in problem["loc"] if isinstance(part, str))
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"STOCKROOM_{name.upper()}: {message}" if name else message)
    return "; ".join(problems)


def explanation(error: Exception) -> str:
    if isinstance(error, CommandError):  # Alembic: an unknown revision, mostly
        return f"{error}; `stockroom db history` lists the revisions"
    if isinstance(error, SQLAlchemyError):
        orig = getattr(error, "orig", None)  # a driver's error: its own words, not the SQL
        return " ".join(str(orig if orig is not None else error).split())
    return " ".join(str(error).split())
