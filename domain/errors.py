"""Domain errors: what went wrong in the shop's terms, never in HTTP or SQL terms."""


class DomainError(Exception):
    """Base of every rule the shop refuses to break."""


class InvalidValue(DomainError, ValueError):
    """A value breaks an invariant (negative price, blank title, malformed SKU, ...)."""


class UnknownItem(DomainError, LookupError):
    def __init__(self, item_id: int) -> None:
        super().__init__(f"item {item_id} does not exist")
        self.item_id = item_id


class DuplicateSku(DomainError):
    def __init__(self, sku: str | None = None) -> None:
        message = f"an item with SKU {sku!r} already exists" if sku else "that SKU is taken"
        super().__init__(message)
        self.sku = sku
