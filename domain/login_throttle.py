"""Login throttling: how many failed logins are free, and how long each one after that blocks.

Three counters watch every login, each with its own allowance:

- an account from one address (``ACCOUNT_AT_ADDRESS``): the tight one, against guessing one
  account's password from one place;
- an address, whatever the account (``ADDRESS``): against trying a few common passwords on
  many accounts from one place; looser, since offices and mobile carriers put many people
  behind one address;
- an account, whatever the address (``ACCOUNT``): against guessing spread over many addresses.
  It never blocks an address that has no failure of its own on that account, so an attacker
  cannot lock the owner out: the owner's first try from another place always gets through,
  while an attacker needs a fresh address for every further guess.

A blocked login is refused before any password is hashed and is not counted itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import DomainError

# A proxy's X-Forwarded-For is client input: keep what we store of it bounded.
ADDRESS_MAX_LENGTH = 64
UNKNOWN_ADDRESS = "unknown"


class ThrottleScope(StrEnum):
    ACCOUNT = "account"
    ADDRESS = "address"
    ACCOUNT_AT_ADDRESS = "account_address"


@dataclass(frozen=True, order=True)
class ThrottleKey:
    """What one counter counts; ordered, so writers lock counters in one order everywhere."""

    scope: ThrottleScope
    value: str


@dataclass(frozen=True)
class FailureCounter:
    key: ThrottleKey
    failures: int
    last_failure_at: datetime
    blocked_until: datetime | None = None


@dataclass(frozen=True)
class Backoff:
    """``free_failures`` cost nothing; the n-th failure after them blocks for ``first_block``
    doubled n-1 times, never more than ``max_block``."""

    free_failures: int
    first_block: timedelta = timedelta(seconds=1)
    max_block: timedelta = timedelta(minutes=15)

    def block_after(self, failures: int) -> timedelta | None:
        beyond = failures - self.free_failures
        if beyond <= 0:
            return None
        if beyond > 40:  # 2**40 seconds is past any cap (and timedelta's range)
            return self.max_block
        return min(self.max_block, self.first_block * (1 << (beyond - 1)))


@dataclass(frozen=True)
class LoginAttempt:
    """The counters one login touches: ``account`` is ``None`` for a malformed email (no
    account can have it, so only the address is counted)."""

    address: ThrottleKey
    account: ThrottleKey | None
    account_at_address: ThrottleKey | None

    @classmethod
    def of(cls, email: str | None, address: str | None) -> LoginAttempt:
        where = (address or UNKNOWN_ADDRESS)[:ADDRESS_MAX_LENGTH]
        return cls(
            address=ThrottleKey(ThrottleScope.ADDRESS, where),
            account=None if email is None else ThrottleKey(ThrottleScope.ACCOUNT, email),
            account_at_address=None
            if email is None
            else ThrottleKey(ThrottleScope.ACCOUNT_AT_ADDRESS, f"{email} {where}"),
        )

    @property
    def keys(self) -> list[ThrottleKey]:
        found = [self.address, self.account, self.account_at_address]
        return sorted(key for key in found if key is not None)


@dataclass(frozen=True)
class LoginThrottlePolicy:
    per_account_at_address: Backoff = Backoff(free_failures=5)
    per_address: Backoff = Backoff(free_failures=50)
    per_account: Backoff = Backoff(free_failures=20)
    # A counter with no failure for this long starts again from zero (and its row is purged).
    forget_after: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        longest = max(b.max_block for b in self._backoffs.values())
        if self.forget_after < longest:
            raise ValueError("failures must be remembered at least as long as a block lasts")

    @property
    def _backoffs(self) -> Mapping[ThrottleScope, Backoff]:
        return {
            ThrottleScope.ACCOUNT_AT_ADDRESS: self.per_account_at_address,
            ThrottleScope.ADDRESS: self.per_address,
            ThrottleScope.ACCOUNT: self.per_account,
        }

    def block_after(self, key: ThrottleKey, failures: int, now: datetime) -> datetime | None:
        """When a counter that has just reached ``failures`` unblocks (``None``: not blocked)."""
        block = self._backoffs[key.scope].block_after(failures)
        return None if block is None else now + block

    def forget_before(self, now: datetime) -> datetime:
        return now - self.forget_after

    def wait(
        self, attempt: LoginAttempt, counters: Iterable[FailureCounter], now: datetime
    ) -> timedelta | None:
        """How long this attempt must wait before it may be tried, or ``None``: go ahead."""
        live = {
            counter.key: counter
            for counter in counters
            if counter.last_failure_at >= self.forget_before(now)
        }
        binding = [attempt.address, attempt.account_at_address]
        if attempt.account_at_address in live:
            # This address has failed on this account itself: the account-wide block holds.
            binding.append(attempt.account)
        ends = [
            until
            for key in binding
            if key in live and (until := live[key].blocked_until) is not None and until > now
        ]
        return max(ends) - now if ends else None


class TooManyFailedLogins(DomainError):
    """Refused before the password was even checked: wait ``retry_after`` seconds."""

    def __init__(self, wait: timedelta) -> None:
        self.retry_after = max(1, math.ceil(wait.total_seconds()))
        super().__init__(f"too many failed logins; try again in {self.retry_after} s")
