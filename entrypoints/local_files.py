"""Files the service trusts because of where they are: the ``.env`` and the development key.

A file in the working directory (or beside the database) is trusted only if nobody else could
have written it: owned by the user the process runs as (or by root, who can change anything
anyway, as OpenSSH's ``StrictModes`` accepts), and writable by neither its group nor others.
The signing key must not be readable by them either: whoever reads it forges any token. A
file that fails is refused with one line naming it and what to do, never used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_ROOT = 0


class UntrustedFile(PermissionError):
    """A file that others could have written (or read, for a key): the command stops, exit 1
    (an ``OSError``: ``entrypoints.cli.explained`` prints it as one line)."""


def check_trusted(path: Path, status: os.stat_result, *, secret: bool = False) -> None:
    """Refuse ``path`` (whose ``stat`` is ``status``) unless only its owner could change it,
    and, for a ``secret``, read it."""
    owners = {os.geteuid(), _ROOT}
    if status.st_uid not in owners:
        raise UntrustedFile(
            f"{path} belongs to user id {status.st_uid}, not to the user running stockroom "
            f"(id {os.geteuid()}): refusing to use it; remove it, or chown it to this user"
        )
    forbidden = stat.S_IRWXG | stat.S_IRWXO if secret else stat.S_IWGRP | stat.S_IWOTH
    loose = stat.S_IMODE(status.st_mode) & forbidden
    if loose:
        wanted = "0600" if secret else "not writable by group or others (chmod go-w)"
        raise UntrustedFile(
            f"{path} has mode {stat.S_IMODE(status.st_mode):04o}, open to other users: "
            f"refusing to use it; make it {wanted}"
        )


def check_trusted_path(path: Path, *, secret: bool = False) -> None:
    """``check_trusted`` for a file that may not exist (then there is nothing to refuse)."""
    try:
        status = path.stat()
    except FileNotFoundError:
        return
    check_trusted(path, status, secret=secret)
