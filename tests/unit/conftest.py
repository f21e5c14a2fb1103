from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fakes import InMemoryStore

# What the application writes when it falls back to its defaults: the embedded SQLite database
# (with its WAL files) and the development signing key. A unit test must create none of them.
APP_FILES = frozenset(
    {"stockroom.db", "stockroom.db-wal", "stockroom.db-shm", "stockroom.db-journal"}
    | {".stockroom-secret"}
)


@pytest.fixture(autouse=True)
def _creates_no_application_files() -> Iterator[None]:
    before = APP_FILES.intersection(os.listdir())
    yield
    created = APP_FILES.intersection(os.listdir()) - before
    assert not created, f"a unit test wrote {sorted(created)} in {os.getcwd()}"


@pytest.fixture
def store() -> InMemoryStore:
    """The committed state every unit of work in one test shares, as the container shares it."""
    return InMemoryStore()
