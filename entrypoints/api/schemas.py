"""What the API accepts: request bodies and the rules on their fields, as pydantic models at
the HTTP edge only (the service layer never sees them). Responses: ``response_models.py``."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any

import email_validator
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    field_validator,
)
from pydantic.config import ExtraValues

from domain.item import (
    DESCRIPTION_MAX_LENGTH,
    MAX_QUANTITY,
    SKU_MAX_LENGTH,
    TITLE_MAX_LENGTH,
)
from domain.order import MAX_LINE_QUANTITY, MAX_LINES, LineRequest
from domain.text import BLANK_CHARACTERS, LINE_BREAKING, MULTI_LINE_ALLOWED
from domain.user import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from entrypoints.api.prices import Price
from service_layer.services.items import ItemChanges, NewItem

# The published schema states every rule the server enforces on a field (schemathesis checks
# it both ways: what it allows is accepted, what it forbids is refused), so generated clients
# can trust it. The domain owns the rules; these patterns restate them in JSON Schema terms,
# built from the domain's constants. Characters are written as \uXXXX, which the pattern
# dialects in play (pydantic's Rust regex, Python's re, ECMA-262 in clients) read alike.


def _char_class(chars: str) -> str:
    return "".join(f"\\u{ord(char):04x}" for char in chars)


def _char_ranges(chars: Iterable[str]) -> str:
    """``_char_class`` with each run of consecutive code points as one range."""
    codes = sorted({ord(char) for char in chars})
    runs: list[list[int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1][1] = code
        else:
            runs.append([code, code])
    return "".join(
        f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}"
        for first, last in runs
    )


_NUL = _char_class("\x00")  # PostgreSQL cannot store it (domain/text.py)
_BLANK = _char_class(BLANK_CHARACTERS)
# What single-line text must not hold once stripped (domain/text.py: controls, line
# separators, bidi controls; NUL among them), and what multi-line text must not hold at all.
_BREAKING = _char_ranges(LINE_BREAKING)
_BREAKING_IN_TEXT = _char_ranges(LINE_BREAKING - set(MULTI_LINE_ALLOWED))
NO_NUL = rf"^[^{_NUL}]*$"
# Blanks around the title (stripped by the domain), then something besides blanks, with no
# line-breaking character in it.
SINGLE_LINE = (
    rf"^[{_BLANK}]*[^{_BLANK}{_BREAKING}](?:[^{_BREAKING}]*[^{_BLANK}{_BREAKING}])?[{_BLANK}]*$"
)
MULTI_LINE = rf"^[^{_BREAKING_IN_TEXT}]*$"
# The domain's SKU rule (domain/item.py) before it strips and upper-cases the text.
SKU_TEXT = rf"^[{_BLANK}]*[A-Za-z0-9][A-Za-z0-9._-]*[{_BLANK}]*$"


def _a_json_number(value: object) -> object:
    # Counts are JSON numbers, never "7" or true. A number with a zero fraction (7.0) is an
    # integer by JSON Schema's own definition, so it is read as one; 7.5 is still refused.
    if isinstance(value, str | bool):
        raise ValueError("must be a whole number, not text or a boolean")
    return value


# The bounds come before the validator, so that they are checked on the int and documented
# as JSON Schema's minimum and maximum.
Quantity = Annotated[int, Field(ge=0, le=MAX_QUANTITY), BeforeValidator(_a_json_number)]
Sku = Annotated[str, Field(min_length=1, max_length=SKU_MAX_LENGTH, pattern=SKU_TEXT)]
Title = Annotated[str, Field(min_length=1, max_length=TITLE_MAX_LENGTH, pattern=SINGLE_LINE)]
Description = Annotated[str, Field(max_length=DESCRIPTION_MAX_LENGTH, pattern=MULTI_LINE)]


def _any_case(word: str) -> str:
    return "".join(f"[{char.lower()}{char.upper()}]" for char in word)


# EmailStr is the email-validator package, which also refuses the special-use domains
# (RFC 6761: "x@shop.test", "x@host.local", ...) that JSON Schema's "email" format allows.
_SPECIAL_USE = "|".join(_any_case(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
Email = Annotated[
    EmailStr, Field(json_schema_extra={"pattern": rf"^(?!.*[@.](?:{_SPECIAL_USE})$).*$"})
]
# Passwords are checked by the domain (check_password_policy); the schema says the same.
Password = Annotated[
    SecretStr,
    Field(
        min_length=PASSWORD_MIN_LENGTH,
        max_length=PASSWORD_MAX_LENGTH,
        json_schema_extra={"pattern": NO_NUL},
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Swagger's "Try it out" sends these (schema "examples", FastAPI's advice for OpenAPI 3.1). As
# they stand, in the README tour's order, each succeeds on a fresh database with an admin
# (tests/integration/test_schema_examples.py); the password is not on the common list.
EXAMPLE_SKU = "MUG-01"
EXAMPLE_EMAIL = "ann@example.com"
EXAMPLE_PASSWORD = "Espresso at 9 sharp"  # noqa: S105 - a documented example, not a secret


def _examples(*examples: dict[str, Any], extra: ExtraValues = "forbid") -> ConfigDict:
    return ConfigDict(extra=extra, json_schema_extra={"examples": list(examples)})


class ItemCreate(_Strict):
    model_config = _examples({"title": "Mug", "sku": EXAMPLE_SKU, "price": "9.50", "quantity": 10})
    title: Title
    sku: Sku | None = None
    description: Description | None = None
    price: Price = Decimal("0.00")
    quantity: Quantity = 0

    def to_command(self) -> NewItem:
        return NewItem(
            title=self.title,
            sku=self.sku,
            description=self.description,
            price=self.price,
            quantity=self.quantity,
        )


# Fields of a partial update that may be absent but never null (``ItemUpdate._not_null``).
_NEVER_NULL = ("title", "sku", "price", "quantity")


def _update_schema(schema: dict[str, Any]) -> None:
    """Typed ``X | None`` (so an absent field is None), but documented as ``X``: a null sent
    for them is refused, and the schema must not offer it. And the example ``_examples`` would
    set (a callable ``json_schema_extra`` replaces the dict form)."""
    schema["examples"] = [{"price": "8.75", "quantity": 12}]
    for name in _NEVER_NULL:
        field_schema = schema["properties"][name]
        field_schema.pop("default", None)
        branches = [branch for branch in field_schema.pop("anyOf") if branch != {"type": "null"}]
        if len(branches) == 1:
            field_schema.update(branches[0])
        else:  # the price: a number or text
            field_schema["anyOf"] = branches


class ItemUpdate(_Strict):
    """Partial update: only the fields present in the body change (``description: null`` clears)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_schema)

    title: Title | None = None
    sku: Sku | None = None
    description: Description | None = None
    price: Price | None = None
    quantity: Quantity | None = None

    @field_validator(*_NEVER_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        # Only called for fields present in the body: absent means "leave it", null is an error.
        if value is None:
            raise ValueError("may be omitted but not null")
        return value

    def to_command(self) -> ItemChanges:
        return ItemChanges(**self.model_dump(exclude_unset=True))


class Restock(_Strict):
    model_config = _examples({"quantity": 6})
    quantity: Annotated[int, Field(gt=0, le=MAX_QUANTITY), BeforeValidator(_a_json_number)]


class Registration(_Strict):
    model_config = _examples({"email": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD})
    email: Email
    # SecretStr: never shows up in a repr, a log line or a traceback.
    password: Password


class PasswordChange(_Strict):
    model_config = _examples({"current_password": EXAMPLE_PASSWORD, "new_password": "Two sugars"})
    current_password: SecretStr  # checked against the stored hash, not against the policy
    new_password: Password


class TokenRequest(BaseModel):
    """OAuth 2.0's password grant (RFC 6749 4.3.2), as form fields: ``username`` is the
    account's email. What ``OAuth2PasswordRequestForm`` reads, as a model, so the schema
    names it. Other fields are ignored, not refused, as RFC 6749 3.2 asks of a token endpoint."""

    model_config = _examples(
        {"grant_type": "password", "username": EXAMPLE_EMAIL, "password": EXAMPLE_PASSWORD},
        extra="ignore",
    )
    # An empty form field reads as an absent one (FastAPI's forms), so "" is allowed too.
    grant_type: Annotated[str | None, Field(pattern="^(?:password)?$")] = None
    username: str = Field(description="The account's email address.")
    password: SecretStr
    scope: str = ""
    client_id: str | None = None
    client_secret: SecretStr | None = None


class OrderLineIn(_Strict):
    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=MAX_LINE_QUANTITY), BeforeValidator(_a_json_number)]


class OrderCreate(_Strict):
    model_config = _examples({"lines": [{"sku": EXAMPLE_SKU, "quantity": 1}]})
    lines: Annotated[list[OrderLineIn], Field(min_length=1, max_length=MAX_LINES)]

    def to_lines(self) -> list[LineRequest]:
        return [LineRequest(line.sku, line.quantity) for line in self.lines]
