"""``stockroom items import FILE``: a supplier's catalog into the shop, batch by batch.

The command reads the file, shows progress and writes the rejects; everything else (the
rules, the batches, the locks, the resumption) is ``service_layer.services.catalog_import``,
which a script can call the same way.
"""

from __future__ import annotations

import stat
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from domain.catalog_import import StockMode
from entrypoints.cli.common import console, container_of, errors, run
from entrypoints.cli.import_files import (
    RejectsFile,
    UnreadableFile,
    detect_format,
    file_digest,
    read_source,
)
from entrypoints.cli.import_progress import ImportProgress
from entrypoints.cli.item_files import FileFormat
from service_layer.services.catalog_import import MAX_BATCH_SIZE, import_catalog
from service_layer.services.import_lines import ImportSummary

# Measured (bench/README.md, "Import"): past this size a batch gains little, while it holds
# its item locks (on SQLite, the write lock) longer against customers' purchases.
DEFAULT_BATCH_SIZE = 1000
EXIT_REJECTS = 3


def items_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or JSON Lines.")
    ],
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="Force the format instead of reading the extension."),
    ] = None,
    stock: Annotated[
        StockMode,
        typer.Option(
            help="set: the file's quantity is the stock now (a stock-take; running a file "
            "twice changes nothing). add: the quantity arrived and is added (a delivery)."
        ),
    ] = StockMode.SET,
    batch_size: Annotated[
        int, typer.Option(min=1, max=MAX_BATCH_SIZE, help="Rows per transaction.")
    ] = DEFAULT_BATCH_SIZE,
    rejects: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="Where rejected rows go [default: FILE.rejects.csv]."),
    ] = None,
    allow_rejects: Annotated[
        bool, typer.Option("--allow-rejects", help="Exit 0 even when rows were rejected.")
    ] = False,
    again: Annotated[
        bool,
        typer.Option(
            "--again",
            help="Import every row, even those an earlier run of this same file committed. "
            "Only for a file that was imported completely: to finish an interrupted run, run "
            "it again without --again.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the summary only.")] = False,
) -> None:
    """Create or update items from FILE, matched by SKU, in batches of one transaction each.

    Columns: sku, title, price (required); quantity, description (optional: a missing
    column leaves an existing item's value alone). A re-run of the same file after a crash or
    Ctrl-C continues after the last committed batch. Bad rows go to the rejects file with
    their line and reason; the run then exits 3 (0 with --allow-rejects).
    """
    container = container_of(ctx)
    try:
        chosen_format = detect_format(file, file_format)
    except UnreadableFile as problem:
        _fail(str(problem))
    if not stat.S_ISREG(file.stat().st_mode):
        # Read twice (its digest first, which is what lets a re-run resume): a pipe cannot be.
        _fail(f"{file} is not a regular file; save it to a file first")
    rejects_path = rejects or file.with_name(file.name + ".rejects.csv")
    if rejects_path.resolve() == file.resolve():
        _fail("--rejects names the file being imported; choose another path")
    rejects_file = RejectsFile(rejects_path)
    size = file.stat().st_size
    # The summary's seconds: from the first read of the file (the digest pass) to the last
    # commit; not the interpreter's start or the database's first round trip.
    started = time.monotonic()

    # The bar shares the error console, so an error printed meanwhile lands above the bar.
    with file.open("rb") as stream, ImportProgress(size, quiet, console=errors) as progress:

        def reported(summary: ImportSummary) -> None:
            progress.update(stream.tell(), summary)

        async def import_file() -> ImportSummary:
            nonlocal started
            started = time.monotonic()
            digest = file_digest(file)
            return await import_catalog(
                container.uow,
                read_source(stream, chosen_format),
                mode=stock,
                batch_size=batch_size,
                file_digest=digest,
                again=again,
                on_reject=rejects_file,
                on_batch=reported,
            )

        try:
            summary = run(container, import_file)
        except UnreadableFile as problem:
            progress.stop()
            _fail(str(problem))
        except KeyboardInterrupt:
            progress.stop()
            # Not "the same command" when it had --again: that would forget this run's batches
            # and apply them a second time (in add mode, count the delivery twice).
            how = "the same command without --again" if again else "the same command"
            errors.print(
                f"interrupted after {time.monotonic() - started:.1f} s: the batches committed "
                f"so far stay; run {how} to finish the import",
                soft_wrap=True,
            )
            raise typer.Exit(code=130) from None
        finally:
            rejects_file.close()
    summary.seconds = time.monotonic() - started
    console.print(_summary_line(summary, rejects_file), soft_wrap=True, highlight=False)
    if summary.rejected and not allow_rejects:
        raise typer.Exit(code=EXIT_REJECTS)


def _summary_line(summary: ImportSummary, rejects: RejectsFile) -> Text:
    counts = (
        f"read {summary.read}, created {summary.created}, updated {summary.updated}, "
        f"unchanged {summary.unchanged}, rejected {summary.rejected}"
    )
    if summary.skipped:
        counts += f", skipped {summary.skipped} (committed by an earlier run; --again to redo)"
    timing = f"{summary.seconds:.2f} s, {summary.rows_per_second:,.0f} rows/s"
    line = Text(f"{counts}; {timing}")
    if rejects.count:
        line.append(f"; rejected rows in {rejects.path}")
    return line


def _fail(message: str) -> None:
    errors.print(Text.assemble(("error: ", "red"), message), soft_wrap=True)
    raise typer.Exit(code=1)
