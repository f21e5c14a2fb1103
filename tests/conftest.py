"""Fixtures for both suites."""

from __future__ import annotations

import pytest

from adapters.passwords import Argon2PasswordHasher

# The real Argon2id code path with the cheapest parameters it accepts: tests stay fast, and a
# hash made here still verifies (and is flagged for re-hashing) under production parameters.
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
TEST_SECRET_KEY = "test-signing-key-" + "0123456789abcdef" * 4


@pytest.fixture(scope="session")
def fast_hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(**FAST_ARGON2)
