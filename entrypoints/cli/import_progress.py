"""What ``stockroom items import`` shows while it runs, on stderr (stdout has only the summary,
for scripts to read)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from service_layer.services.import_lines import ImportSummary

# Without a terminal (a cron job, a CI log): one line this often instead of a bar.
PLAIN_PROGRESS_SECONDS = 5.0


class ImportProgress:
    """A Rich bar on a terminal (rows, rows/s, bytes, ETA from the file's size); otherwise a
    plain line every few seconds; nothing with ``--quiet``. On stderr: stdout has only the
    summary, for scripts to read."""

    def __init__(
        self,
        size: int,
        quiet: bool,
        *,
        console: Console | None = None,
        every: float = PLAIN_PROGRESS_SECONDS,
    ) -> None:
        self._size = size
        self._quiet = quiet
        self._every = every
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._last_line = time.monotonic()
        self._console = console or Console(stderr=True)

    def __enter__(self) -> ImportProgress:
        if not self._quiet and self._console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]importing"),
                BarColumn(),
                TextColumn("{task.fields[rows]:,} rows, {task.fields[rate]:,.0f} rows/s"),
                DownloadColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._task = self._bar.add_task("import", total=self._size, rows=0, rate=0.0)
            self._bar.start()
        return self

    def update(self, bytes_read: int, summary: ImportSummary) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=bytes_read,
                rows=summary.read,
                rate=summary.rows_per_second,
            )
        elif not self._quiet and time.monotonic() - self._last_line >= self._every:
            self._last_line = time.monotonic()
            share = bytes_read / self._size if self._size else 1.0
            self._console.print(
                f"imported {summary.read:,} rows ({share:.0%} of the file), "
                f"{summary.rows_per_second:,.0f} rows/s, {summary.rejected:,} rejected",
                soft_wrap=True,
                highlight=False,
            )

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
