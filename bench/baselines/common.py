"""What every baseline shares with Stockroom: the same environment variables, the same token
format, the same JSON shapes and the same order rules."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jwt
from fastapi import HTTPException, status
from pydantic import BaseModel, Field

ORDER_STATUS = "placed"  # what a new order is in Stockroom's schema
TOKEN_CLAIMS = {"require": ["sub", "exp", "iat"]}  # what Stockroom requires of its tokens


@dataclass(frozen=True)
class Config:
    database_url: str
    secret_key: str
    pool_size: int
    max_overflow: int

    @classmethod
    def from_env(cls, *, default_size: int = 5, default_overflow: int = 10) -> Config:
        """Stockroom's variables, so one environment serves every comparator. Unset, the pool
        is the pattern's own: SQLAlchemy's 5 + 10 for the classic tutorial apps."""
        return cls(
            database_url=os.environ["STOCKROOM_DATABASE_URL"],
            secret_key=os.environ["STOCKROOM_SECRET_KEY"],
            pool_size=int(os.environ.get("STOCKROOM_POOL_SIZE", default_size)),
            max_overflow=int(os.environ.get("STOCKROOM_POOL_MAX_OVERFLOW", default_overflow)),
        )


class LineIn(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=1_000_000_000)


class OrderIn(BaseModel):
    lines: list[LineIn] = Field(min_length=1, max_length=100)

    def wanted(self) -> dict[str, int]:
        """Quantity per normalised SKU, as Stockroom reads an order."""
        return {line.sku.strip().upper(): line.quantity for line in self.lines}


def unauthenticated() -> HTTPException:
    headers = {"WWW-Authenticate": "Bearer"}
    return HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token", headers)


def user_id_from_header(authorization: str | None, secret_key: str) -> int:
    """A bearer JWT, HS256 only, with ``sub``, ``exp`` and ``iat``: what Stockroom checks."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise unauthenticated()
    try:
        claims = jwt.decode(
            authorization[7:], secret_key, algorithms=["HS256"], options=TOKEN_CLAIMS
        )
        return int(claims["sub"])
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as error:
        raise unauthenticated() from error


def check_stock(wanted: Mapping[str, int], in_stock: Mapping[str, int]) -> None:
    """404 for an unknown SKU, 409 when the stock is short (``in_stock``: the locked rows)."""
    for sku, quantity in wanted.items():
        if sku not in in_stock:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no item with SKU {sku}")
        if in_stock[sku] < quantity:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{sku} is out of stock")


def not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"item {item_id} does not exist")


# Stockroom's answers carry money as two-place text in the shop's currency (issue 24): the
# baselines answer the same shape, so every target does the same work per request.
CURRENCY = "EUR"


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def item_json(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sku": row["sku"],
        "title": row["title"],
        "description": row["description"],
        "price": money(row["price_cents"]),
        "quantity": row["quantity"],
        "currency": CURRENCY,
    }


def order_json(
    order_id: int, customer_id: int, created: datetime, rows: list[Any], wanted: Mapping[str, int]
) -> dict[str, Any]:
    """Stockroom's OrderOut shape, from the locked item rows and the quantities ordered."""
    lines = [
        {
            "item_id": row["id"],
            "sku": row["sku"],
            "quantity": wanted[row["sku"]],
            "unit_price": money(row["price_cents"]),
            "total": money(row["price_cents"] * wanted[row["sku"]]),
        }
        for row in rows
    ]
    return {
        "id": order_id,
        "customer_id": customer_id,
        "status": ORDER_STATUS,
        "lines": lines,
        "total": money(sum(row["price_cents"] * wanted[row["sku"]] for row in rows)),
        "currency": CURRENCY,
        "created_at": created.isoformat(),
        "updated_at": created.isoformat(),
    }
