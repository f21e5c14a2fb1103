"""What the throttles remember besides failures: sign-ups per address, and which accounts
logged in successfully from which address (a "known client", OWASP's device-cookie idea
with the address, the one thing an API client always sends, standing in for the cookie)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

# A proxy's X-Forwarded-For is client input: keep what we store of it bounded.
ADDRESS_MAX_LENGTH = 64
UNKNOWN_ADDRESS = "unknown"
# One IPv6 customer is given a /64 (RFC 6177, RFC 7421) and chooses freely inside it.
IPV6_CLIENT_PREFIX = 64


def client_network(address: str | None) -> str:
    """Who is asking, as a throttle counts them: an IPv4 address as it is, an IPv6 address as
    its /64 (``2001:db8:1:2::/64``), an IPv4-mapped IPv6 address as the IPv4 address it maps;
    anything else (a test client's name) clipped to ``ADDRESS_MAX_LENGTH``."""
    if not address:
        return UNKNOWN_ADDRESS
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:ADDRESS_MAX_LENGTH]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        network = ipaddress.IPv6Network((int(parsed), IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(parsed)


class Activity(StrEnum):
    SIGN_UP = "sign_up"  # keyed by the client's network
    LOGIN = "login"  # a successful login, keyed by "email network"


@dataclass(frozen=True, order=True)
class ActivityKey:
    kind: Activity
    value: str


@dataclass(frozen=True)
class ActivityCounter:
    """``count`` events since ``started_at`` (the start of the current window), the latest at
    ``last_at``."""

    key: ActivityKey
    count: int
    started_at: datetime
    last_at: datetime
