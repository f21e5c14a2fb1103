"""What the API answers: the response bodies. A route returns the service's read model
(``service_layer.views``) and FastAPI reads these off its attributes (``response_model``):
no copying by hand. Requests and their validation: ``schemas.py``."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from domain.order import OrderStatus
from entrypoints.currency import CURRENCY_PATTERN

# An amount as text with exactly two places ("8.00", "17.50"): a JSON number would become a
# binary float in most clients (0.1 + 0.2 != 0.3), and its trailing zeros would be lost.
# "{:.2f}".format is the formatting itself, a builtin: no function of ours per amount on the
# request path (tests/integration/test_request_path.py). Outputs are not re-validated against
# input limits: a line total may exceed any one price.
MoneyOut = Annotated[
    Decimal,
    PlainSerializer("{:.2f}".format, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "decimal", "pattern": r"^[0-9]+\.[0-9]{2}$"},
        mode="serialization",
    ),
]
# The shop's one currency (STOCKROOM_CURRENCY), which every amount beside it is in.
CurrencyOut = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": CURRENCY_PATTERN,
            "description": "ISO 4217 code of the currency every amount here is in",
            "examples": ["EUR"],
        },
        mode="serialization",
    ),
]


class _Read(BaseModel):
    """A response: routes return the service's read model (``service_layer.views``) and
    FastAPI reads this schema off its attributes (``response_model``), no copying by hand."""

    model_config = ConfigDict(from_attributes=True)


def _example(example: dict[str, Any], *, from_attributes: bool = True) -> ConfigDict:
    """The body Swagger shows for a response: what the request examples in ``schemas.py``
    get back on a fresh database."""
    return ConfigDict(from_attributes=from_attributes, json_schema_extra={"examples": [example]})


_AT = "2025-01-31T09:30:00Z"
_LINE = {"item_id": 1, "sku": "MUG-01", "quantity": 1, "unit_price": "8.75", "total": "8.75"}


class ItemOut(_Read):
    model_config = _example(
        {
            "id": 1,
            "sku": "MUG-01",
            "title": "Mug",
            "description": None,
            "price": "9.50",
            "quantity": 10,
            "currency": "EUR",
        }
    )
    id: int
    sku: str
    title: str
    description: str | None
    price: MoneyOut
    quantity: int
    currency: CurrencyOut


class UserOut(_Read):
    """What a client may know about an account: never the hash, never the password."""

    model_config = _example(
        {
            "id": 2,
            "email": "ann@example.com",
            "role": "customer",
            "is_active": True,
            "created_at": _AT,
        }
    )

    id: int
    email: str
    role: Literal["admin", "customer"]
    is_active: bool
    created_at: datetime


class TokenOut(BaseModel):
    model_config = _example(
        {"access_token": "eyJhbGciOi...", "token_type": "bearer"}, from_attributes=False
    )
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token type, not a secret


class OrderLineOut(_Read):
    model_config = _example(_LINE)
    item_id: int
    sku: str
    quantity: int
    unit_price: MoneyOut
    total: MoneyOut


class OrderOut(_Read):
    model_config = _example(
        {"id": 1, "customer_id": 2, "status": "placed", "lines": [_LINE], "total": "8.75"}
        | {"currency": "EUR", "created_at": _AT, "updated_at": _AT}
    )
    id: int
    customer_id: int
    status: OrderStatus  # the enum GET /orders/?status= takes: one type in generated clients
    lines: list[OrderLineOut]
    total: MoneyOut
    currency: CurrencyOut
    created_at: datetime
    updated_at: datetime


class OutOfStockOut(BaseModel):
    model_config = _example(
        {"detail": "out of stock: MUG-01", "skus": ["MUG-01"]}, from_attributes=False
    )
    detail: str
    skus: list[str]


class ErrorOut(BaseModel):
    detail: str


class ServiceLinks(BaseModel):
    docs: str = Field(description="Swagger UI: try every operation from the browser.")
    redoc: str = Field(description="ReDoc: the same reference, for reading.")
    openapi: str = Field(description="The OpenAPI schema the docs pages are built from.")
    health_live: str
    health_ready: str


class ServiceOut(BaseModel):
    name: str
    version: str = Field(description="The installed package's version.")
    links: ServiceLinks


class LiveOut(BaseModel):
    status: Literal["live"] = "live"


class ReadyOut(BaseModel):
    """Ready; "degraded" when a shared dependency is unwell: the database unreachable or slow
    (the app answers what needs it with 503 + Retry-After), or a replica down or too far
    behind (the primary serves its reads meanwhile). ``database``: "ok", "unreachable" or
    "slow" at the worker's last check; ``replicas``: each configured replica's state, by its
    place in STOCKROOM_REPLICA_URLS ("ok", "down", or how far behind)."""

    status: Literal["ready", "degraded"] = "ready"
    database: str = "ok"
    replicas: dict[str, str] = Field(default_factory=dict)


class DependenciesOut(BaseModel):
    """The database ("ok") and each replica's state, checked just now."""

    database: str
    replicas: dict[str, str] = Field(default_factory=dict)
