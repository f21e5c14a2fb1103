"""Who is acting, as the service layer needs to know it: an id and whether they are staff;
or, for a request not yet checked against the database, whom its token names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    is_admin: bool = False

    def may_see(self, owner_id: int) -> bool:
        return self.is_admin or self.user_id == owner_id


class Account(Protocol):
    """What a token is held against: the account as stored now (a ``User`` or a ``UserView``)."""

    @property
    def is_active(self) -> bool: ...
    @property
    def credentials_version(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Whom a token names: its signature proves we issued it, but only the account as it is
    now says whether it still counts (``accepted_by``). A use case that takes a ``Caller``
    checks it inside its own unit of work (``users.confirm_caller``)."""

    user_id: int
    credentials_version: int  # the account's when the token was issued
    issued_at: datetime

    def accepted_by(self, account: Account | None) -> bool:
        """False when the account is gone or deactivated, its credentials changed since the
        token was issued, or it was created after the token (an id given out again)."""
        return (
            account is not None
            and account.is_active
            and account.credentials_version == self.credentials_version
            # Tokens count whole seconds; an account made at 12:00:00.7 may log in at 12:00:00.9.
            and self.issued_at >= account.created_at.replace(microsecond=0)
        )
