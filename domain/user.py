"""The `User` aggregate: who may do what in the shop."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from domain.emails import check_single_script
from domain.emails import normalise_email as normalise_email  # where the services find it
from domain.errors import InvalidValue
from domain.passwords import check_not_common
from domain.text import check_storable

PASSWORD_MIN_LENGTH = 8
# Argon2 would hash a megabyte happily; a cap keeps login from being a CPU amplifier.
PASSWORD_MAX_LENGTH = 256


class Role(StrEnum):
    ADMIN = "admin"
    CUSTOMER = "customer"


def check_password_policy(password: str) -> None:
    check_storable(password, field="password")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidValue(
            f"password must be at least {PASSWORD_MIN_LENGTH} characters", field="password"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidValue(
            f"password must be at most {PASSWORD_MAX_LENGTH} characters", field="password"
        )
    check_not_common(password)


@dataclass(eq=False)
class User:
    """A customer or an admin. Holds a password *hash* only; hashing is an adapter's job.

    ``credentials_version`` counts the changes that end every session of the account: a
    password change or reset, a promotion or demotion, a deactivation, "log out everywhere".
    A token carries the version it was issued under and is refused once it differs.
    """

    email: str
    password_hash: str
    role: Role = Role.CUSTOMER
    is_active: bool = True
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    credentials_version: int = 0
    id: int | None = None

    def __post_init__(self) -> None:
        # Only where an account is created: one registered before the rule still logs in.
        self.email = check_single_script(normalise_email(self.email))
        self.role = Role(self.role)
        if not self.password_hash:
            raise InvalidValue("a user needs a password hash")

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working; the next login gets a new version."""
        self.credentials_version += 1

    def promote_to_admin(self) -> None:
        if self.role is not Role.ADMIN:
            self.role = Role.ADMIN
            self.revoke_tokens()  # a token taken as a customer must not carry new rights

    def set_password_hash(self, password_hash: str) -> None:
        """A new password (changed or reset): sessions opened with the old one end."""
        self._check_hash(password_hash)
        self.password_hash = password_hash
        self.revoke_tokens()

    def rehash_password(self, password_hash: str) -> None:
        """The same password hashed with stronger parameters: nobody is logged out."""
        self._check_hash(password_hash)
        self.password_hash = password_hash

    def deactivate(self) -> None:
        if self.is_active:
            self.is_active = False
            self.revoke_tokens()

    def activate(self) -> None:
        self.is_active = True

    @staticmethod
    def _check_hash(password_hash: str) -> None:
        if not password_hash:
            raise InvalidValue("a user needs a password hash")
