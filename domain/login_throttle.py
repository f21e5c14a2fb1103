"""Login throttling: how many failed logins are free, and how long each one after that blocks.

Three counters watch every login, each with its own allowance:

- an account from one address (``ACCOUNT_AT_ADDRESS``): the tight one, against guessing one
  account's password from one place;
- an address, whatever the account (``ADDRESS``): against trying a few common passwords on
  many accounts from one place; looser, since offices and mobile carriers put many people
  behind one address. It does not bind an account that logged in successfully from that
  address lately (a *known client*, ``domain.address_activity``): others' failures at a
  shared or spoofed address cannot lock the owner out of their own account;
- an account, whatever the address (``ACCOUNT``): against guessing spread over many addresses.
  It never blocks an address that has no failure of its own on that account, so an attacker
  cannot lock the owner out: the owner's first try from another place always gets through,
  while an attacker needs a fresh address for every further guess.

A blocked login is refused before any password is hashed and is not counted itself. An
address is counted as its network (``client_network``: an IPv6 /64), since one IPv6 client
chooses freely among the 2**64 addresses of its prefix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.address_activity import Activity, ActivityCounter, ActivityKey, client_network
from domain.errors import TooSoon
from domain.sign_ups import SignUpLimit


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
    # Set once this account logs in successfully from this address.
    known_client: ActivityKey | None = None

    @classmethod
    def of(cls, email: str | None, address: str | None) -> LoginAttempt:
        where = client_network(address)
        return cls(
            address=ThrottleKey(ThrottleScope.ADDRESS, where),
            account=None if email is None else ThrottleKey(ThrottleScope.ACCOUNT, email),
            account_at_address=None
            if email is None
            else ThrottleKey(ThrottleScope.ACCOUNT_AT_ADDRESS, f"{email} {where}"),
            known_client=None if email is None else ActivityKey(Activity.LOGIN, f"{email} {where}"),
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
    # An account that logged in from an address within this long is a known client there:
    # the address-wide block does not bind it (zero: no client is ever known).
    remember_clients_for: timedelta = timedelta(days=30)
    # A known client's success is written again only when its mark is older than this, so a
    # busy account does not write on every login.
    refresh_known_client_after: timedelta = timedelta(hours=1)
    # Registration, anonymous and as costly as a login, is counted per address too.
    sign_ups: SignUpLimit = field(default_factory=SignUpLimit)

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

    def is_known_client(
        self, attempt: LoginAttempt, marks: Iterable[ActivityCounter], now: datetime
    ) -> bool:
        return self._known_since(attempt, marks, now - self.remember_clients_for)

    def should_remember(
        self, attempt: LoginAttempt, marks: Iterable[ActivityCounter], now: datetime
    ) -> bool:
        """Whether this successful attempt must be written down as a known client."""
        if attempt.known_client is None or not self.remember_clients_for:
            return False
        return not self._known_since(attempt, marks, now - self.refresh_known_client_after)

    @staticmethod
    def _known_since(
        attempt: LoginAttempt, marks: Iterable[ActivityCounter], since: datetime
    ) -> bool:
        return any(mark.key == attempt.known_client and mark.last_at > since for mark in marks)

    def wait(
        self,
        attempt: LoginAttempt,
        counters: Iterable[FailureCounter],
        now: datetime,
        marks: Iterable[ActivityCounter] = (),
    ) -> timedelta | None:
        """How long this attempt must wait before it may be tried, or ``None``: go ahead.
        ``marks``: what is known of this client (``is_known_client``)."""
        live = {
            counter.key: counter
            for counter in counters
            if counter.last_failure_at >= self.forget_before(now)
        }
        binding = [attempt.account_at_address]
        if not self.is_known_client(attempt, marks, now):
            binding.append(attempt.address)
        if attempt.account_at_address in live:
            # This address has failed on this account itself: the account-wide block holds.
            binding.append(attempt.account)
        ends = [
            until
            for key in binding
            if key in live and (until := live[key].blocked_until) is not None and until > now
        ]
        return max(ends) - now if ends else None


class TooManyFailedLogins(TooSoon):
    """Refused before the password was even checked: wait ``retry_after`` seconds."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__("failed logins", wait)


class TooManySignUps(TooSoon):
    """Refused before any hashing: this address signed up too often lately
    (``domain.sign_ups``)."""

    def __init__(self, wait: timedelta) -> None:
        super().__init__("sign-ups from this address", wait)
