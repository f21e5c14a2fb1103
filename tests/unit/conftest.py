from __future__ import annotations

import pytest

from adapters.memory_repository import InMemoryStore


@pytest.fixture
def store() -> InMemoryStore:
    """The committed state every unit of work in one test shares, as the container shares it."""
    return InMemoryStore()
