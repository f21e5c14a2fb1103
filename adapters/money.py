"""Money stored as integer cents: exact on every backend, SQLite included."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

_CENTS_PER_UNIT = 100


class Cents(TypeDecorator[Decimal]):
    """A ``Decimal`` with two places in Python, a ``BIGINT`` of cents in the database.

    SQLite has no exact decimal type (NUMERIC columns round-trip through floats), so storing
    minor units is the one representation that is exact on both backends.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        cents = value * _CENTS_PER_UNIT
        if cents != cents.to_integral_value():
            raise ValueError(f"{value} has more than two decimal places")
        return int(cents)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / _CENTS_PER_UNIT).quantize(Decimal("0.01"))
