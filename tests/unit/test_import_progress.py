"""What ``items import`` shows while it runs: a bar on a terminal, plain lines otherwise,
nothing with ``--quiet``; always on the console it is given (stderr in the command)."""

from __future__ import annotations

import io

from rich.console import Console

from entrypoints.cli.import_progress import ImportProgress
from service_layer.services.import_lines import ImportSummary


def console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120, color_system=None), out


def halfway() -> ImportSummary:
    summary = ImportSummary(read=5000, rejected=12)
    summary.seconds = 2.0
    return summary


def test_a_terminal_gets_a_bar_with_rows_rate_and_bytes() -> None:
    screen, out = console(terminal=True)
    with ImportProgress(2_000_000, quiet=False, console=screen) as progress:
        progress.update(1_000_000, halfway())
    shown = out.getvalue()
    assert "importing" in shown
    assert "5,000 rows, 2,500 rows/s" in shown
    assert "1.0/2.0 MB" in shown


def test_without_a_terminal_a_plain_line_comes_every_interval() -> None:
    log, out = console(terminal=False)
    with ImportProgress(2_000_000, quiet=False, console=log, every=0) as progress:
        progress.update(1_000_000, halfway())
    assert out.getvalue() == ("imported 5,000 rows (50% of the file), 2,500 rows/s, 12 rejected\n")


def test_without_a_terminal_nothing_comes_before_the_interval() -> None:
    log, out = console(terminal=False)
    with ImportProgress(2_000_000, quiet=False, console=log, every=3600) as progress:
        progress.update(1_000_000, halfway())
    assert out.getvalue() == ""


def test_quiet_shows_nothing_even_on_a_terminal() -> None:
    for terminal in (True, False):
        screen, out = console(terminal=terminal)
        with ImportProgress(2_000_000, quiet=True, console=screen, every=0) as progress:
            progress.update(1_000_000, halfway())
        assert out.getvalue() == ""
