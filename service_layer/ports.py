"""Ports the use cases need besides storage; adapters satisfy them structurally."""

from __future__ import annotations

from typing import Protocol


class PasswordHasher(Protocol):
    """Hashing is deliberately slow, so implementations must not block the event loop, and
    may refuse work beyond what they can do at once with ``service_layer.errors.Overloaded``
    (``hash`` and ``verify`` alike)."""

    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """``False`` for ``None``, after the same work as a real check: a login for an unknown
        email must take as long as one for a known email, or timing tells them apart."""
        ...

    def needs_rehash(self, password_hash: str) -> bool: ...
