"""Pydantic models at the HTTP edge only; the service layer never sees them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    SecretStr,
    field_validator,
)

from domain.item import DESCRIPTION_MAX_LENGTH, MAX_PRICE, MAX_QUANTITY, TITLE_MAX_LENGTH
from domain.order import MAX_LINE_QUANTITY, MAX_LINES, LineRequest
from domain.user import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from service_layer.services.items import ItemChanges, NewItem
from service_layer.views import ItemView, OrderLineView, OrderView, UserView

# Prices travel as JSON numbers (what clients of a classic FastAPI API expect); they are
# validated as Decimals so "19.99" stays 19.99 and never picks up binary-float noise.
Price = Annotated[
    Decimal,
    Field(ge=0, le=MAX_PRICE, max_digits=10, decimal_places=2, allow_inf_nan=False),
    PlainSerializer(float, return_type=float, when_used="json"),
]
# Outputs are not re-validated against input limits: a line total may exceed any one price.
MoneyOut = Annotated[Decimal, PlainSerializer(float, return_type=float, when_used="json")]
Quantity = Annotated[int, Field(ge=0, le=MAX_QUANTITY, strict=True)]
Sku = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*$")
]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX_LENGTH)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ItemCreate(_Strict):
    title: Title
    sku: Sku | None = None
    description: Description | None = None
    price: Price = Decimal("0")
    quantity: Quantity = 0

    def to_command(self) -> NewItem:
        return NewItem(
            title=self.title,
            sku=self.sku,
            description=self.description,
            price=self.price,
            quantity=self.quantity,
        )


class ItemUpdate(_Strict):
    """Partial update: only the fields present in the body change (``description: null`` clears)."""

    title: Title | None = None
    sku: Sku | None = None
    description: Description | None = None
    price: Price | None = None
    quantity: Quantity | None = None

    @field_validator("title", "sku", "price", "quantity", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only called for fields present in the body: absent means "leave it", null is an error.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    def to_command(self) -> ItemChanges:
        return ItemChanges(**self.model_dump(exclude_unset=True))


class Restock(_Strict):
    quantity: Annotated[int, Field(gt=0, le=MAX_QUANTITY, strict=True)]


class ItemOut(BaseModel):
    id: int
    sku: str
    title: str
    description: str | None
    price: Price
    quantity: int

    @classmethod
    def from_view(cls, view: ItemView) -> ItemOut:
        return cls(
            id=view.id,
            sku=view.sku,
            title=view.title,
            description=view.description,
            price=view.price,
            quantity=view.quantity,
        )


class Registration(_Strict):
    email: EmailStr
    # SecretStr: never shows up in a repr, a log line or a traceback.
    password: Annotated[
        SecretStr, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
    ]


class PasswordChange(_Strict):
    current_password: SecretStr  # checked against the stored hash, not against the policy
    new_password: Annotated[
        SecretStr, Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
    ]


class UserOut(BaseModel):
    """What a client may know about an account: never the hash, never the password."""

    id: int
    email: str
    role: Literal["admin", "customer"]
    is_active: bool
    created_at: datetime

    @classmethod
    def from_view(cls, view: UserView) -> UserOut:
        return cls(
            id=view.id,
            email=view.email,
            role=view.role.value,
            is_active=view.is_active,
            created_at=view.created_at,
        )


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - a token type, not a secret


class OrderLineIn(_Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY, strict=True)]


class OrderCreate(_Strict):
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES)]

    def to_lines(self) -> list[LineRequest]:
        return [LineRequest(line.sku, line.quantity) for line in self.lines]


class OrderLineOut(BaseModel):
    item_id: int
    sku: str
    quantity: int
    unit_price: MoneyOut
    total: MoneyOut

    @classmethod
    def from_view(cls, view: OrderLineView) -> OrderLineOut:
        return cls(
            item_id=view.item_id,
            sku=view.sku,
            quantity=view.quantity,
            unit_price=view.unit_price,
            total=view.total,
        )


class OrderOut(BaseModel):
    id: int
    customer_id: int
    status: Literal["placed", "shipped", "cancelled"]
    lines: list[OrderLineOut]
    total: MoneyOut
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_view(cls, view: OrderView) -> OrderOut:
        return cls(
            id=view.id,
            customer_id=view.customer_id,
            status=view.status.value,
            lines=[OrderLineOut.from_view(line) for line in view.lines],
            total=view.total,
            created_at=view.created_at,
            updated_at=view.updated_at,
        )


class OutOfStockOut(BaseModel):
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
    """Ready; "degraded" when a replica is down or too far behind (the primary serves its
    reads meanwhile). ``replicas``: each configured replica's state, by its place in
    STOCKROOM_REPLICA_URLS ("ok", "down", or how far behind)."""

    status: Literal["ready", "degraded"] = "ready"
    replicas: dict[str, str] = Field(default_factory=dict)
