"""A record that a customer's request was already honoured, so a retry is answered, not redone.

A record lives for a time to live (a day by default): long enough for any client's retries,
and short enough that keys cannot pile up without bound. After it, the key is forgotten, as if
it had never been used: a request carrying it is a new request.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.errors import InvalidValue
from domain.order import LineRequest

KEY_MAX_LENGTH = 255
DEFAULT_KEY_TTL = timedelta(hours=24)


def validate_key(key: str) -> str:
    if not key or len(key) > KEY_MAX_LENGTH or not key.isprintable():
        raise InvalidValue(
            f"Idempotency-Key must be 1-{KEY_MAX_LENGTH} printable characters", field="key"
        )
    return key


def expiry_cutoff(now: datetime, ttl: timedelta) -> datetime:
    """Records created at or before this instant have expired."""
    return now - ttl


def fingerprint(lines: Sequence[LineRequest]) -> str:
    """A digest of the canonical request (see ``normalise_lines``): same order, same digest."""
    canonical = json.dumps([[line.sku, line.quantity] for line in lines], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(eq=False)
class IdempotencyRecord:
    customer_id: int
    key: str
    request_fingerprint: str
    order_id: int
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def has_expired(self, now: datetime, ttl: timedelta) -> bool:
        return self.created_at <= expiry_cutoff(now, ttl)
