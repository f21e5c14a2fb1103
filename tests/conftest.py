"""Fixtures for both suites."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI

from adapters.passwords import Argon2PasswordHasher
from entrypoints.api.app import create_app
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


# The API fixtures most test modules share. Each module says what its app runs on by defining
# ``container`` (a fake unit of work, SQLite, PostgreSQL...); these build on whichever it is.


@pytest.fixture
def app(container: Container) -> FastAPI:
    return create_app(container)


@pytest.fixture
async def admin(container: Container) -> Account:
    from tests.api_support import make_account

    return await make_account(container, admin=True)


@pytest.fixture
async def customer(container: Container) -> Account:
    from tests.api_support import make_account

    return await make_account(container, admin=False)
