"""Fixtures for both suites."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from adapters.passwords import Argon2PasswordHasher
from entrypoints.container import Container

if TYPE_CHECKING:  # tests.api_support imports this module's constants
    from tests.api_support import Account

# The real Argon2id code path with the cheapest parameters it accepts: tests stay fast, and a
# hash made here still verifies (and is flagged for re-hashing) under production parameters.
FAST_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
TEST_SECRET_KEY = "test-signing-key-" + "0123456789abcdef" * 4


@pytest.fixture(scope="session")
def fast_hasher() -> Argon2PasswordHasher:
    return Argon2PasswordHasher(**FAST_ARGON2)


# The accounts both suites' API tests use, made on whichever ``container`` the suite defines
# (tests/unit/conftest.py: the fakes; tests/integration/conftest.py: a real database).


@pytest.fixture
async def admin(container: Container) -> Account:
    from tests.api_support import make_account

    return await make_account(container, admin=True)


@pytest.fixture
async def customer(container: Container) -> Account:
    from tests.api_support import make_account

    return await make_account(container, admin=False)
