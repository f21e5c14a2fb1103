"""The database URLs Stockroom runs on, and a one-line reason for any other.

Every engine is an asyncio engine, so a URL must name an async driver: a bare
``postgresql://`` would be handed to whichever driver SQLAlchemy picks by default (psycopg
today), not to asyncpg with its statement caches (``adapters.postgres``), and a bare
``sqlite://`` is the synchronous sqlite3 module, which an async engine refuses with a
traceback about pool classes. Saying so up front, with the forms we accept, is kinder.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

DRIVERS = {"sqlite": ("aiosqlite",), "postgresql": ("asyncpg", "psycopg")}
ACCEPTED_FORMS = (
    "sqlite+aiosqlite:///PATH, "
    "postgresql+asyncpg://USER:PASSWORD@HOST:PORT/DATABASE "
    "(or postgresql+psycopg://... behind a transaction pooler)"
)


class UnsupportedDatabaseUrl(ValueError):
    """A URL that is not one of ``ACCEPTED_FORMS``. The message never quotes the URL past its
    scheme, so a password in it is never shown."""


def check_database_url(url: str) -> URL:
    """The parsed URL, or ``UnsupportedDatabaseUrl`` saying what is wrong and what would do."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise UnsupportedDatabaseUrl(f"not a database URL; use {ACCEPTED_FORMS}") from None
    backend, _, driver = parsed.drivername.partition("+")
    if backend not in DRIVERS:
        raise UnsupportedDatabaseUrl(
            f"{parsed.drivername}:// is not a database Stockroom runs on; use {ACCEPTED_FORMS}"
        )
    if driver not in DRIVERS[backend]:
        problem = "names no async driver" if not driver else "names a driver we do not use"
        raise UnsupportedDatabaseUrl(f"{parsed.drivername}:// {problem}; use {ACCEPTED_FORMS}")
    return parsed
