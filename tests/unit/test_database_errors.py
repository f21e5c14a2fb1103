"""How driver errors are classified (adapters/database_errors.py), on errors built as each
driver raises them: the policy every unit of work and the read port apply."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from adapters.database_errors import classify
from adapters.replicas import parse_position
from domain.errors import DuplicateSku, EmailTaken, IdempotencyKeyTaken
from service_layer.errors import DatabaseUnavailable, MalformedReadPosition, TransientConflict


class PostgresDriverError(Exception):
    """Stands for asyncpg's and psycopg's errors: both carry ``sqlstate`` (None when the error
    did not come from the server)."""

    def __init__(self, message: str, sqlstate: str | None, **fields: object) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        for name, value in fields.items():
            setattr(self, name, value)


PSYCOPG_DIAG = SimpleNamespace(constraint_name="uq_users_email")  # psycopg's Diagnostic


def wrapped(kind: type[OperationalError], orig: Exception) -> OperationalError:
    return kind("SELECT 1", {}, orig)


@pytest.mark.parametrize(
    ("sqlstate", "expected"),
    [
        ("40001", TransientConflict),  # serialization failure
        ("40P01", TransientConflict),  # deadlock
        ("57P01", DatabaseUnavailable),  # admin shutdown
        ("57P03", DatabaseUnavailable),  # cannot connect now
        ("08006", DatabaseUnavailable),  # connection failure
        ("08P01", DatabaseUnavailable),  # protocol violation (a pooler's refusals)
        ("53300", DatabaseUnavailable),  # too many connections
        ("28P01", DatabaseUnavailable),  # password authentication failed
        ("3D000", DatabaseUnavailable),  # no such database
        (None, DatabaseUnavailable),  # never reached the server (refused, reset)
    ],
)
def test_postgres_errors_by_sqlstate(sqlstate: str | None, expected: type[Exception]) -> None:
    error = wrapped(OperationalError, PostgresDriverError("boom", sqlstate))
    assert type(classify(error)) is expected


def test_an_error_of_the_query_itself_is_not_translated() -> None:
    syntax = ProgrammingError("SELEC 1", {}, PostgresDriverError("syntax error", "42601"))
    assert classify(syntax) is None


def test_sqlite_locked_is_unavailable_but_its_other_errors_are_bugs() -> None:
    locked = wrapped(OperationalError, sqlite3.OperationalError("database is locked"))
    missing = wrapped(OperationalError, sqlite3.OperationalError("no such table: items"))
    assert isinstance(classify(locked), DatabaseUnavailable)
    assert classify(missing) is None


def test_pool_timeout_and_refused_connections_are_unavailable() -> None:
    assert isinstance(classify(PoolTimeout("QueuePool limit reached")), DatabaseUnavailable)
    assert isinstance(classify(ConnectionRefusedError(111, "refused")), DatabaseUnavailable)


@pytest.mark.parametrize(
    ("orig", "expected"),
    [
        (PostgresDriverError("dup", "23505", constraint_name="uq_items_sku"), DuplicateSku),
        (
            PostgresDriverError(
                "dup", "23505", diag=SimpleNamespace(constraint_name="uq_users_email")
            ),
            EmailTaken,
        ),
        (sqlite3.IntegrityError("UNIQUE constraint failed: items.sku"), DuplicateSku),
        (
            sqlite3.IntegrityError(
                "UNIQUE constraint failed: idempotency_keys.customer_id, idempotency_keys.key"
            ),
            IdempotencyKeyTaken,
        ),
    ],
    ids=["asyncpg", "psycopg", "sqlite", "sqlite-composite"],
)
def test_unique_violations_become_the_domain_error_they_stand_for(
    orig: Exception, expected: type[Exception]
) -> None:
    assert type(classify(IntegrityError("INSERT", {}, orig))) is expected


def test_an_unknown_constraint_and_a_classified_error_are_left_alone() -> None:
    other = IntegrityError("INSERT", {}, PostgresDriverError("fk", "23503", constraint_name="x"))
    assert classify(other) is None
    assert classify(TransientConflict("already classified")) is None


# --- read positions (adapters/replicas.py) -----------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("0/0", 0),
        ("0/16B3748", 0x16B3748),
        ("1/0", 1 << 32),
        ("ff/ffffffff", (0xFF << 32) + 0xFFFFFFFF),
    ],
)
def test_a_read_position_is_the_lsn_as_one_number(given: str, expected: int) -> None:
    assert parse_position(given) == expected


@pytest.mark.parametrize("given", ["", "0", "/0", "0/", "G/0", "123456789/0", "0/0/0", "0/0 x"])
def test_anything_else_is_a_malformed_read_position(given: str) -> None:
    with pytest.raises(MalformedReadPosition):
        parse_position(given)
