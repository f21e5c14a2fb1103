"""Writing a file all at once or not at all, for commands whose output may be cut short.

The text goes to a temporary file next to the target (same directory, so same file system)
and is renamed over the target only once the block has finished: a failure halfway (a lost
database, a full disk, Ctrl-C) leaves the target as it was, and no stray temporary file.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO


class CannotWrite(OSError):
    """The target cannot be written; the message names it, not the temporary file."""


@contextmanager
def replacing(target: Path) -> Iterator[TextIO]:
    """A UTF-8 text stream whose content becomes ``target`` when the block ends normally."""
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        # "x": never reuse someone else's file; created with the usual umask-derived mode,
        # so the renamed file has the permissions any new file would have.
        stream = temporary.open("x", encoding="utf-8", newline="")
    except OSError as error:
        raise CannotWrite(f"cannot write {target}: {error.strerror or error}") from error
    try:
        with stream:
            yield stream
            _finish(stream, temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _finish(stream: TextIO, temporary: Path, target: Path) -> None:
    try:
        stream.flush()
        os.fsync(stream.fileno())  # on disk before the name points at it
        os.replace(temporary, target)
    except OSError as error:  # a full disk, or a target that is a directory
        raise CannotWrite(f"cannot write {target}: {error.strerror or error}") from error
