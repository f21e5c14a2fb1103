"""Where the token signing key comes from.

Production: ``STOCKROOM_SECRET_KEY``, or the service refuses to start (checked in Settings).
Development: a random key generated once and kept in a file beside the embedded database, so
every worker process and every restart signs and verifies with the same key. The file is
created 0600 and used only while it is still private to the user running the service
(``entrypoints.local_files``).
"""

from __future__ import annotations

import logging
import os
import secrets
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

from entrypoints.local_files import check_trusted

log = logging.getLogger(__name__)
KEY_FILE_NAME = ".stockroom-secret"


def development_key_path(database_url: str) -> Path:
    """Beside the SQLite file when there is one, else in the working directory."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent / KEY_FILE_NAME
    return Path.cwd() / KEY_FILE_NAME


def load_or_create_key(path: Path) -> str:
    """Read the key at ``path``, creating it atomically if it does not exist yet.

    Several workers may start at once: each writes a complete key to a private temporary file
    and hard-links it into place; ``link`` fails if the name exists, so exactly one key wins
    and nobody ever reads a half-written file.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-")
        try:
            with os.fdopen(descriptor, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
            os.chmod(temporary, 0o600)
            try:
                os.link(temporary, path)
                log.info("generated a development signing key in %s", path)
            except FileExistsError:
                pass  # another worker won the race; use its key
        finally:
            os.unlink(temporary)
    key = read_key(path)
    if len(key) < 32:
        raise RuntimeError(f"{path} does not hold a usable key; delete it to generate a new one")
    return key


def read_key(path: Path) -> str:
    """The key in ``path``, refused (``UntrustedFile``) if another user owns the file or could
    read or write it: a key planted there would sign tokens for anyone. Checked on the open
    file, so the file checked is the file read."""
    with path.open() as handle:
        check_trusted(path, os.fstat(handle.fileno()), secret=True)
        return handle.read().strip()
