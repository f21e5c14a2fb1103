"""The catalog `Item` aggregate and the value rules it enforces."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from domain.errors import InvalidValue, OutOfStock, StockLimitExceeded
from domain.events import ItemCreated, ItemPriceChanged, RecordsEvents, StockLow, StockRestocked
from domain.text import check_multi_line, check_single_line, check_storable

SKU_MAX_LENGTH = 64
SKU_PATTERN = re.compile(rf"^[A-Z0-9][A-Z0-9._-]{{0,{SKU_MAX_LENGTH - 1}}}$")
TITLE_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 2000
# Upper bounds keep every value inside the storage types (cents in a BIGINT, stock in an INT)
# with room to spare, so hostile input is refused here instead of overflowing a column.
MAX_PRICE = Decimal("99999999.99")
MAX_QUANTITY = 1_000_000_000
CENT = Decimal("0.01")
# One wording for a price finer than a cent, wherever it is refused: here, and at the API's edge
# for a price sent as a JSON number or as text (entrypoints/api/schemas.py).
TOO_MANY_PLACES = "price must have at most two decimal places"


def normalise_sku(raw: str) -> str:
    sku = raw.strip().upper()
    if not SKU_PATTERN.fullmatch(sku):
        raise InvalidValue(
            "SKU must be 1-64 characters of letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="sku",
        )
    return sku


# The shop's setting (STOCKROOM_LOW_STOCK_THRESHOLD) defaults to this; a sale is handed the
# setting's value (``Order.place``), so the rule below stays here and the policy outside.
DEFAULT_LOW_STOCK_THRESHOLD = 5


def is_running_low(quantity: int, threshold: int) -> bool:
    """The low-stock rule, in one place: ``threshold`` or fewer units left calls for a restock."""
    return quantity <= threshold


def generate_sku() -> str:
    """A fresh SKU for items created without one; 48 random bits make a clash negligible."""
    return f"SKU-{secrets.token_hex(6).upper()}"


def validate_title(raw: str) -> str:
    # Blanks around it (a pasted line's newline among them) are dropped, never stored; what is
    # left stays on one line.
    title = check_single_line(check_storable(raw, field="title").strip(), field="title")
    if not title:
        raise InvalidValue("title must not be blank", field="title")
    if len(title) > TITLE_MAX_LENGTH:
        raise InvalidValue(f"title must be at most {TITLE_MAX_LENGTH} characters", field="title")
    return title


def validate_description(raw: str | None) -> str | None:
    if raw is None:
        return None
    check_multi_line(check_storable(raw, field="description"), field="description")
    if len(raw) > DESCRIPTION_MAX_LENGTH:
        raise InvalidValue(
            f"description must be at most {DESCRIPTION_MAX_LENGTH} characters", field="description"
        )
    return raw


def validate_price(raw: Decimal | int | str) -> Decimal:
    try:
        price = Decimal(raw)
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise InvalidValue("price must be a decimal number", field="price") from exc
    if not price.is_finite():
        raise InvalidValue("price must be a finite number", field="price")
    if price < 0 or price > MAX_PRICE:
        raise InvalidValue(f"price must be between 0 and {MAX_PRICE}", field="price")
    if price != price.quantize(CENT):
        raise InvalidValue(TOO_MANY_PLACES, field="price")
    # -0 is a valid zero, but it must not be stored or shown as "-0.00".
    return price.quantize(CENT).copy_abs() if price == 0 else price.quantize(CENT)


def validate_quantity(raw: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidValue("quantity must be a whole number", field="quantity")
    if raw < 0 or raw > MAX_QUANTITY:
        raise InvalidValue(f"quantity must be between 0 and {MAX_QUANTITY}", field="quantity")
    return raw


@dataclass(eq=False)
class Item(RecordsEvents):
    """A sellable thing and how many of it are on the shelf.

    Identity is the database id (``eq=False``: two loads of one row are one item), and every
    field is validated on the way in, so an ``Item`` that exists is a valid one.
    """

    sku: str
    title: str
    price: Decimal
    quantity: int = 0
    description: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        self.sku = normalise_sku(self.sku)
        self.title = validate_title(self.title)
        self.description = validate_description(self.description)
        self.price = validate_price(self.price)
        self.quantity = validate_quantity(self.quantity)

    @classmethod
    def create(
        cls,
        sku: str,
        title: str,
        price: Decimal,
        quantity: int = 0,
        description: str | None = None,
    ) -> Item:
        """A new item for the catalog, recorded as created (``ItemCreated``). Building an
        ``Item`` directly records nothing: copies and rows read back are not new items."""
        item = cls(sku, title, price, quantity, description)
        item.events.append(ItemCreated(item.sku, item.title, item.price, item.quantity))
        return item

    def rename(self, title: str) -> None:
        self.title = validate_title(title)

    def describe(self, description: str | None) -> None:
        self.description = validate_description(description)

    def reprice(self, price: Decimal) -> None:
        old, self.price = self.price, validate_price(price)
        if self.price != old:
            self.events.append(ItemPriceChanged(self.sku, old, self.price))

    def change_sku(self, sku: str) -> None:
        self.sku = normalise_sku(sku)

    def count_stock(self, quantity: int) -> None:
        """Set stock to a counted figure (a stock-take correction), not a relative change."""
        self.quantity = validate_quantity(quantity)

    def take(
        self, quantity: int, *, low_stock_threshold: int = DEFAULT_LOW_STOCK_THRESHOLD
    ) -> None:
        """Remove stock for an order; the shelf never goes below zero. A sale that leaves the
        item running low records ``StockLow`` (every such sale, as the alert always did)."""
        if quantity <= 0:
            raise InvalidValue("quantity to take must be positive", field="quantity")
        if quantity > self.quantity:
            raise OutOfStock([self.sku])
        self.quantity -= quantity
        if is_running_low(self.quantity, low_stock_threshold):
            low = StockLow(self.sku, self.title, self.quantity, low_stock_threshold)
            self.events.append(low)

    def put_back(self, quantity: int) -> None:
        """Return stock from a cancelled order."""
        if quantity <= 0:
            raise InvalidValue("quantity to put back must be positive", field="quantity")
        self._add_stock(quantity)

    def restock(self, quantity: int) -> None:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise InvalidValue("restock quantity must be a positive whole number", field="quantity")
        self._add_stock(quantity)
        self.events.append(StockRestocked(self.sku, quantity, self.quantity))

    def _add_stock(self, quantity: int) -> None:
        # A valid quantity that the shelf's current stock cannot take: the item's state is in
        # the way, not the value (which any other item might accept), as with OutOfStock.
        if self.quantity + quantity > MAX_QUANTITY:
            raise StockLimitExceeded(self.sku, MAX_QUANTITY)
        self.quantity += quantity
