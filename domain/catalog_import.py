"""A supplier's catalog row, checked by the same rules as the API, and what it does to an item.

A row names an item by SKU. It creates the item when the SKU is new and updates it when it
is not ("upsert by SKU"), so a file can be imported again without duplicating anything. Its
quantity either *sets* the stock (a stock-take: the file says how many are on the shelf) or
*adds* to it (a delivery note: the file says how many arrived).

A batch of rows is recorded as imported in the batch's own transaction (``ImportedBatch``),
so a run that stops half-way, killed or interrupted, can be run again and continue where the
last committed batch ended: rows already applied are not applied twice, which matters most
in ``add`` mode, where applying a row twice would count a delivery twice.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from domain.errors import InvalidValue, StockLimitExceeded
from domain.events import RecordsEvents
from domain.item import (
    MAX_QUANTITY,
    normalise_sku,
    validate_description,
    validate_price,
    validate_quantity,
    validate_title,
)

REQUIRED_FIELDS = ("sku", "title", "price")
OPTIONAL_FIELDS = ("quantity", "description")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
_KNOWN_FIELDS = frozenset(FIELDS)


class StockMode(StrEnum):
    SET = "set"  # the row's quantity is the stock now (a stock-take)
    ADD = "add"  # the row's quantity arrived and is added to the stock (a delivery)


class RowOutcome(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class CatalogRow:
    """One valid row. ``quantity`` ``None``: the row says nothing about stock (a new item
    starts at 0). ``has_description`` ``False``: the file has no description, so an existing
    item keeps its own; ``True`` with ``description`` ``None`` clears it."""

    line: int
    sku: str
    title: str
    price: Decimal
    quantity: int | None = None
    description: str | None = None
    has_description: bool = False


def parse_row(line: int, fields: Mapping[str, object]) -> CatalogRow:
    """A row of text (CSV) or JSON values (JSON Lines) as a ``CatalogRow``, or
    ``InvalidValue`` saying what is wrong with it, in the API's own words.

    An empty cell is an absent value: CSV cannot tell the two apart.
    """
    if any(name not in _KNOWN_FIELDS for name in fields):
        unknown = sorted(str(name) for name in fields if name not in _KNOWN_FIELDS)
        raise InvalidValue(f"unknown field(s): {', '.join(unknown)}", field=unknown[0])
    values = {name: value for name, value in fields.items() if value not in ("", None)}
    for name in REQUIRED_FIELDS:
        if name not in values:
            raise InvalidValue(f"{name} is required", field=name)
    return CatalogRow(
        line=line,
        sku=normalise_sku(_text(values["sku"], "sku")),
        title=validate_title(_text(values["title"], "title")),
        price=validate_price(_decimal_text(values["price"])),
        quantity=_quantity(values["quantity"]) if "quantity" in values else None,
        description=validate_description(
            _text(values["description"], "description") if "description" in values else None
        ),
        has_description="description" in fields,
    )


def combine(earlier: CatalogRow, later: CatalogRow, mode: StockMode) -> CatalogRow:
    """``later`` applied to ``earlier``: an item's stored values (as a row) or an earlier row
    for the same SKU. The later row's title and price win, its description too when it has
    one, and its quantity replaces the stock (``set``) or adds to it (``add``, up to the most
    an item may hold: ``StockLimitExceeded`` otherwise, as ``Item.restock`` says).

    Every value already passed the ``Item``'s own validators in ``parse_row``; this is the
    rest of what the item would do, on plain values, so a bulk load needs no ``Item`` object
    per row (a mapped object costs more to build than its row costs to write).
    """
    quantity = earlier.quantity
    if later.quantity is not None:
        if mode is StockMode.ADD and quantity is not None:
            if quantity + later.quantity > MAX_QUANTITY:
                raise StockLimitExceeded(later.sku, MAX_QUANTITY)
            quantity += later.quantity
        else:
            quantity = later.quantity
    description, has_description = earlier.description, earlier.has_description
    if later.has_description:
        description, has_description = later.description, True
    return CatalogRow(
        later.line, later.sku, later.title, later.price, quantity, description, has_description
    )


class Catalog(RecordsEvents):
    """The items as a whole, as a bulk load changes them: what records a batch's
    ``ItemsImported``. It has no id: its events' subject is the collection, "items"."""

    id = None


@dataclass(frozen=True, slots=True)
class ImportedBatch:
    """Lines ``first_line``..``last_line`` of the file whose SHA-256 is ``file_digest`` were
    applied in ``mode`` and committed at ``committed_at``."""

    file_digest: str
    first_line: int
    last_line: int
    mode: StockMode
    committed_at: datetime

    def covers(self, line: int) -> bool:
        return self.first_line <= line <= self.last_line

    def without(self, lines: Iterable[int]) -> list[ImportedBatch]:
        """The parts of this batch around ``lines``: a row the item refused was not applied,
        so a re-run must try it again rather than skip it."""
        parts, start = [], self.first_line
        for line in sorted(set(lines)):
            if start <= line - 1:
                parts.append(dataclasses.replace(self, first_line=start, last_line=line - 1))
            start = line + 1
        if start <= self.last_line:
            parts.append(dataclasses.replace(self, first_line=start))
        return parts


def _text(value: object, field: str) -> str:
    if isinstance(value, str):
        return value
    if field == "sku" and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a numeric SKU in JSON, e.g. 12345
    raise InvalidValue(f"{field} must be text", field=field)


def _decimal_text(value: object) -> str:
    """Prices as text, never through a float: "19.99" or 19.99 in JSON are both 19.99."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidValue("price must be a decimal number", field="price")
    return value.strip() if isinstance(value, str) else repr(value)


_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
# More digits than this could never be a valid quantity (and Python refuses int() of a very
# long digit string): out of range, without converting it.
_MAX_DIGITS = len(str(MAX_QUANTITY))


def _quantity(value: object) -> int:
    if isinstance(value, str):
        text = value.strip()
        if not _WHOLE_NUMBER.fullmatch(text):
            raise InvalidValue("quantity must be a whole number", field="quantity")
        if len(text.lstrip("+-").lstrip("0")) > _MAX_DIGITS:
            raise InvalidValue(f"quantity must be between 0 and {MAX_QUANTITY}", field="quantity")
        return validate_quantity(int(text))
    if isinstance(value, int) and not isinstance(value, bool):
        return validate_quantity(value)
    raise InvalidValue("quantity must be a whole number", field="quantity")
