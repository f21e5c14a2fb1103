"""Domain errors: what went wrong in the shop's terms, never in HTTP or SQL terms."""

from __future__ import annotations

import math
from datetime import timedelta


class DomainError(Exception):
    """Base of every rule the shop refuses to break."""


class TooSoon(DomainError):
    """A throttle's refusal, given before any costly work: try again in ``retry_after`` whole
    seconds. ``what`` says what there has been too much of."""

    def __init__(self, what: str, wait: timedelta) -> None:
        self.retry_after = max(1, math.ceil(wait.total_seconds()))
        super().__init__(f"too many {what}; try again in {self.retry_after} s")


class InvalidValue(DomainError, ValueError):
    """A value breaks an invariant (negative price, blank title, malformed SKU, ...).

    ``field`` names the offending attribute when there is one, so an edge can say where.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownItem(DomainError, LookupError):
    def __init__(self, item_id: int) -> None:
        super().__init__(f"item {item_id} does not exist")
        self.item_id = item_id


class DuplicateSku(DomainError):
    def __init__(self, sku: str | None = None) -> None:
        message = f"an item with SKU {sku!r} already exists" if sku else "that SKU is taken"
        super().__init__(message)
        self.sku = sku


class UnknownUser(DomainError, LookupError):
    def __init__(self, user_id: int | None = None) -> None:
        super().__init__(
            "user does not exist" if user_id is None else f"user {user_id} does not exist"
        )
        self.user_id = user_id


class EmailTaken(DomainError):
    def __init__(self) -> None:
        # The address is not echoed: whether an email is registered is for its owner to know.
        super().__init__("that email is already registered")


class InvalidCredentials(DomainError):
    """Wrong email or password; one message for both so it tells an attacker nothing."""

    def __init__(self) -> None:
        super().__init__("incorrect email or password")


class IncorrectPassword(DomainError):
    """The caller is signed in but did not prove they know the current password: required
    before the password changes, so a stolen token alone cannot take the account over."""

    def __init__(self) -> None:
        super().__init__("the current password is not correct")


class UnknownSku(InvalidValue):
    """An order names SKUs the catalog does not have: the request itself is wrong (422)."""

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"unknown SKU(s): {', '.join(skus)}", field="lines")
        self.skus = skus


class OutOfStock(DomainError):
    """Not enough on the shelf for some lines; nothing was taken for any line."""

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"out of stock: {', '.join(skus)}")
        self.skus = skus


class StockLimitExceeded(DomainError):
    """Adding stock would take an item past the most one item may hold; nothing was added."""

    def __init__(self, sku: str, limit: int) -> None:
        super().__init__(f"stock of {sku} would exceed {limit}")
        self.sku = sku
        self.limit = limit


class UnknownOrder(DomainError, LookupError):
    def __init__(self, order_id: int) -> None:
        super().__init__(f"order {order_id} does not exist")
        self.order_id = order_id


class IllegalTransition(DomainError):
    def __init__(self, current: str, action: str) -> None:
        super().__init__(f"cannot {action} an order that is {current}")
        self.current = current
        self.action = action


class ItemHasOrders(DomainError):
    def __init__(self, item_id: int) -> None:
        super().__init__(f"item {item_id} appears on orders and cannot be deleted")
        self.item_id = item_id


class IdempotencyKeyReused(InvalidValue):
    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was already used with a different request", field="lines"
        )


class IdempotencyKeyTaken(DomainError):
    """A concurrent request with the same Idempotency-Key committed first; answer as it did."""

    def __init__(self) -> None:
        super().__init__("a request with this Idempotency-Key is already recorded")


class ImportModeConflict(DomainError):
    """A file is being imported again in another stock mode than its earlier, unfinished run:
    half its rows would set stock and half add to it."""

    def __init__(self, earlier: str, now: str) -> None:
        super().__init__(
            f"an earlier run imported this file (or part of it) with --stock {earlier}; finish "
            f"it with --stock {earlier}, or use --again to import the whole file anew with "
            f"--stock {now}"
        )
        self.earlier, self.now = earlier, now


class ImportBatchTaken(DomainError):
    """Another run of the same file committed these lines first: the file is being imported
    twice at the same time. Nothing of this batch was written."""

    def __init__(self) -> None:
        super().__init__(
            "another run of this file committed the same lines first: is it being imported "
            "twice at once? Run it again when the other run is done: it will skip what is in"
        )
