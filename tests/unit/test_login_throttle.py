"""Login throttling, on the fake unit of work with a clock the tests move.

The policy (``domain.login_throttle``): per account from one address 5 failures are free,
then each blocks for 1 s, 2 s, 4 s... up to 15 min; the account across addresses and the
address across accounts have looser allowances; the account-wide block never binds an
address that has not failed on the account itself, and the address-wide block never binds an
account that logged in from that address lately, so the owner is never locked out. An IPv6
address is counted as its /64.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.passwords import Argon2PasswordHasher
from domain.address_activity import Activity, ActivityKey, client_network
from domain.errors import InvalidCredentials
from domain.login_throttle import (
    Backoff,
    LoginThrottlePolicy,
    ThrottleKey,
    ThrottleScope,
    TooManyFailedLogins,
)
from service_layer.services import logins, users
from service_layer.services.logins import LoginThrottle
from service_layer.views import UserView
from tests.conftest import FAST_ARGON2
from tests.fakes import FakeUnitOfWork, InMemoryStore

OWNER = "owner@example.com"
PASSWORD = "the owner's password"
ATTACKER = "203.0.113.66"
OWNER_AT = "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class CountingHasher:
    """The real (cheap) hasher, counting the password checks: a blocked login makes none."""

    def __init__(self) -> None:
        self._inner = Argon2PasswordHasher(**FAST_ARGON2)
        self.verifies = 0

    async def hash(self, password: str) -> str:
        return await self._inner.hash(password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        self.verifies += 1
        return await self._inner.verify(password_hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._inner.needs_rehash(password_hash)


class Site:
    """One store, one clock, one hasher: log in as anyone from anywhere."""

    def __init__(self, policy: LoginThrottlePolicy | None = None) -> None:
        self.store = InMemoryStore()
        self.clock = Clock()
        self.hasher = CountingHasher()
        self.throttle = LoginThrottle(policy or LoginThrottlePolicy(), self.clock)

    async def register(self, email: str = OWNER, password: str = PASSWORD) -> None:
        await users.register(FakeUnitOfWork(self.store), self.hasher, email, password)

    async def log_in(self, email: str, password: str, address: str | None) -> UserView:
        return await logins.log_in(
            FakeUnitOfWork(self.store), self.hasher, self.throttle, email, password, address
        )

    async def fail(self, email: str = OWNER, address: str | None = ATTACKER) -> None:
        with pytest.raises(InvalidCredentials):
            await self.log_in(email, "a wrong password", address)

    async def refused(self, email: str = OWNER, address: str | None = ATTACKER) -> int:
        """The attempt is refused before any check; the seconds it was told to wait."""
        checks = self.hasher.verifies
        with pytest.raises(TooManyFailedLogins) as refusal:
            await self.log_in(email, PASSWORD, address)
        assert self.hasher.verifies == checks, "a blocked login hashed a password"
        return refusal.value.retry_after

    def failures(self, scope: ThrottleScope, value: str) -> int | None:
        counter = self.store.login_failures.get(ThrottleKey(scope, value))
        return None if counter is None else counter.failures


def test_the_backoff_curve_is_free_then_doubling_from_one_second_to_the_cap() -> None:
    backoff = Backoff(free_failures=5)
    blocks = [backoff.block_after(n) for n in range(0, 18)]
    seconds = [None if b is None else b.total_seconds() for b in blocks]
    assert seconds == [None] * 6 + [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert backoff.block_after(10**9) == timedelta(minutes=15)


def test_the_policy_refuses_to_forget_a_counter_before_its_block_ends() -> None:
    with pytest.raises(ValueError, match="remembered"):
        LoginThrottlePolicy(forget_after=timedelta(minutes=5))


async def test_five_failures_are_free_then_each_blocks_twice_as_long_without_hashing() -> None:
    site = Site()
    await site.register()
    for _ in range(6):  # five free failures, and the sixth that starts the backoff
        await site.fail()
    assert await site.refused() == 1
    site.clock.advance(1)
    await site.fail()
    assert await site.refused() == 2
    site.clock.advance(2)
    await site.fail()
    assert await site.refused() == 4
    site.clock.advance(3)
    assert await site.refused() == 1  # a second left; refusals are not counted
    assert site.failures(ThrottleScope.ACCOUNT_AT_ADDRESS, f"{OWNER} {ATTACKER}") == 8


async def test_the_block_doubles_up_to_fifteen_minutes() -> None:
    site = Site()
    for _ in range(6):
        await site.fail()
    waits = []
    for _ in range(15):  # wait out each block, then fail again
        waits.append(await site.refused())
        site.clock.advance(waits[-1])
        await site.fail()
    assert waits == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512] + [900] * 5


async def test_the_owner_logs_in_from_another_address_while_the_attacker_is_blocked() -> None:
    site = Site()
    await site.register()
    for _ in range(6):
        await site.fail()
    for _ in range(20):  # past the account-wide allowance (20 failures) too
        site.clock.advance(await site.refused())
        await site.fail()
    assert site.failures(ThrottleScope.ACCOUNT, OWNER) == 26
    assert await site.refused() > 1

    owner = await site.log_in(OWNER, PASSWORD, OWNER_AT)
    assert owner.email == OWNER
    assert await site.refused() > 1, "the owner's login unblocked the attacker"


async def test_the_account_wide_block_binds_only_addresses_that_failed_on_the_account() -> None:
    """Guessing spread over many addresses: once the account's allowance is spent, each
    address that guessed wrong must wait, while a clean address still gets its try."""
    policy = LoginThrottlePolicy(
        per_account_at_address=Backoff(free_failures=5),
        per_account=Backoff(free_failures=3),
        per_address=Backoff(free_failures=50),
    )
    site = Site(policy)
    await site.register()
    bots = [f"192.0.2.{n}" for n in range(1, 5)]
    for bot in bots:  # four failures from four addresses: the fourth blocks the account
        await site.fail(address=bot)

    for bot in bots:
        assert await site.refused(address=bot) == 1
    await site.fail(address="192.0.2.99")  # a fresh address gets its one try
    assert await site.refused(address="192.0.2.99") == 2  # and the account's block grew
    assert (await site.log_in(OWNER, PASSWORD, OWNER_AT)).email == OWNER


async def test_a_success_clears_this_addresss_failures_on_the_account_and_nothing_else() -> None:
    site = Site()
    await site.register()
    for _ in range(3):
        await site.fail(address=OWNER_AT)
    await site.log_in(OWNER, PASSWORD, OWNER_AT)

    assert site.failures(ThrottleScope.ACCOUNT_AT_ADDRESS, f"{OWNER} {OWNER_AT}") is None
    # Logging in to an account of one's own must not wash an address's or account's record.
    assert site.failures(ThrottleScope.ADDRESS, OWNER_AT) == 3
    assert site.failures(ThrottleScope.ACCOUNT, OWNER) == 3


async def test_trying_many_accounts_from_one_address_blocks_that_address() -> None:
    policy = LoginThrottlePolicy(per_address=Backoff(free_failures=3))
    site = Site(policy)
    await site.register()
    for n in range(4):
        await site.fail(email=f"victim-{n}@example.com")
    assert await site.refused(email="victim-9@example.com") == 1
    assert (await site.log_in(OWNER, PASSWORD, OWNER_AT)).email == OWNER


async def test_an_unknown_email_is_throttled_exactly_like_a_real_one() -> None:
    """Or a 429 would tell which emails have accounts."""
    site = Site()
    await site.register()
    for email in (OWNER, "nobody@example.com"):
        for _ in range(6):
            await site.fail(email=email, address=f"{email}-address")
        assert await site.refused(email=email, address=f"{email}-address") == 1


async def test_a_malformed_email_counts_against_the_address_only() -> None:
    site = Site(LoginThrottlePolicy(per_address=Backoff(free_failures=1)))
    await site.fail(email="not an email")
    await site.fail(email="not an email")
    assert set(site.store.login_failures) == {ThrottleKey(ThrottleScope.ADDRESS, ATTACKER)}
    assert await site.refused(email="not an email") == 1


async def test_quiet_counters_start_again_and_stale_ones_are_purged() -> None:
    site = Site()
    await site.register()
    for _ in range(6):
        await site.fail(address="192.0.2.1")
    await site.fail(address="192.0.2.2")
    site.clock.advance(24 * 60 * 60 + 1)

    await site.fail(address="192.0.2.1")  # a day later: counted from one again
    assert site.failures(ThrottleScope.ACCOUNT_AT_ADDRESS, f"{OWNER} 192.0.2.1") == 1
    # ... and 192.0.2.2's counters, quiet for a day, are gone with that failure.
    assert site.failures(ThrottleScope.ACCOUNT_AT_ADDRESS, f"{OWNER} 192.0.2.2") is None
    assert site.failures(ThrottleScope.ADDRESS, "192.0.2.2") is None
    assert site.failures(ThrottleScope.ACCOUNT, OWNER) == 1


async def test_an_address_is_clipped_and_a_missing_one_is_counted_as_unknown() -> None:
    site = Site()
    await site.fail(address="x" * 500)
    await site.fail(address=None)
    assert site.failures(ThrottleScope.ADDRESS, "x" * 64) == 1
    assert site.failures(ThrottleScope.ADDRESS, "unknown") == 1


# --- F5: an IPv6 client is its /64 ------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("fe80::1%eth0", "fe80::/64"),
        ("testclient", "testclient"),
        (None, "unknown"),
        ("", "unknown"),
    ],
)
def test_a_client_is_counted_as_its_ipv4_address_or_its_ipv6_slash_64(
    address: str | None, network: str
) -> None:
    assert client_network(address) == network


async def test_guesses_from_every_address_of_one_ipv6_slash_64_share_one_allowance() -> None:
    site = Site()
    await site.register()
    for n in range(1, 7):  # six addresses, one /64: the sixth failure blocks
        await site.fail(address=f"2001:db8:66:1::{n:x}")
    assert await site.refused(address="2001:db8:66:1:ffff:ffff:ffff:ffff") == 1
    assert (await site.log_in(OWNER, PASSWORD, "2001:db8:66:2::1")).email == OWNER


async def test_an_ipv4_mapped_address_is_the_ipv4_address_it_maps() -> None:
    site = Site()
    await site.register()
    for _ in range(6):
        await site.fail(address="::ffff:203.0.113.66")
    assert await site.refused(address=ATTACKER) == 1


# --- F4: nobody can lock an owner out of their own account ------------------------------


async def test_a_blocked_address_still_lets_in_an_account_that_logged_in_from_it_lately() -> None:
    """Many people behind one address (or a spoofed one): others' failures there block the
    address, but not for an account known to log in from it."""
    policy = LoginThrottlePolicy(per_address=Backoff(free_failures=3))
    site = Site(policy)
    await site.register()
    await site.log_in(OWNER, PASSWORD, ATTACKER)  # the owner, at the shared address
    for n in range(4):  # three free failures, and the fourth that blocks the address
        await site.fail(email=f"victim-{n}@example.com")
    assert await site.refused(email="someone-else@example.com") >= 1  # the address is blocked

    assert (await site.log_in(OWNER, PASSWORD, ATTACKER)).email == OWNER


async def test_a_known_client_still_has_only_its_own_allowance_on_its_account() -> None:
    """Being known exempts from the address's block, not from the account's own counters:
    someone else at the owner's address guessing the owner's password is blocked as usual."""
    site = Site()
    await site.register()
    await site.log_in(OWNER, PASSWORD, ATTACKER)
    for _ in range(6):
        await site.fail()
    assert await site.refused() == 1


async def test_a_client_is_known_for_thirty_days_after_its_last_login_there() -> None:
    policy = LoginThrottlePolicy(per_address=Backoff(free_failures=0))
    site = Site(policy)
    await site.register()
    await site.log_in(OWNER, PASSWORD, ATTACKER)
    site.clock.advance(29 * 24 * 60 * 60)
    await site.fail(email="victim@example.com")
    assert (await site.log_in(OWNER, PASSWORD, ATTACKER)).email == OWNER  # known: 29 days

    site.clock.advance(30 * 24 * 60 * 60 + 1)  # 30 days since that login
    await site.fail(email="victim@example.com")
    assert await site.refused() >= 1


async def test_a_known_client_is_written_down_again_only_once_an_hour() -> None:
    site = Site()
    await site.register()
    await site.log_in(OWNER, PASSWORD, OWNER_AT)
    mark = ActivityKey(Activity.LOGIN, f"{OWNER} {OWNER_AT}")
    first = site.store.address_activity[mark]
    site.clock.advance(30 * 60)
    await site.log_in(OWNER, PASSWORD, OWNER_AT)
    assert site.store.address_activity[mark] == first
    site.clock.advance(31 * 60)
    await site.log_in(OWNER, PASSWORD, OWNER_AT)
    assert site.store.address_activity[mark].last_at == site.clock.now


# --- a double-submitted password change ------------------------------------------------

NEW_PASSWORD = "the owner's new password"


async def _change(site: Site, user: UserView) -> UserView:
    return await logins.change_own_password(
        FakeUnitOfWork(site.store),
        site.hasher,
        site.throttle,
        user,
        (PASSWORD, NEW_PASSWORD),
        OWNER_AT,
    )


async def test_the_second_of_a_double_submitted_change_is_answered_as_done_uncounted() -> None:
    """Both requests were signed in when sent; the first ended the session of both. The
    second finds its new password in force: the same change, answered again, not a guess."""
    site = Site()
    await site.register()
    session = await site.log_in(OWNER, PASSWORD, OWNER_AT)
    first = await _change(site, session)
    second = await _change(site, session)

    assert second == first  # one change: the version moved once
    assert site.store.login_failures == {}
    assert (await site.log_in(OWNER, NEW_PASSWORD, OWNER_AT)).id == session.id


async def test_twins_that_both_verified_the_old_password_are_both_answered_as_done() -> None:
    """The twin verifies the current password, then stores while this one hashes."""
    site = Site()
    await site.register()
    session = await site.log_in(OWNER, PASSWORD, OWNER_AT)
    hash_new = site.hasher.hash
    twin: list[UserView] = []

    async def hash_after_the_twin_stored(password: str) -> str:
        site.hasher.hash = hash_new  # type: ignore[method-assign]
        twin.append(await _change(site, session))
        return await hash_new(password)

    site.hasher.hash = hash_after_the_twin_stored  # type: ignore[method-assign]
    assert await _change(site, session) == twin[0]
    assert site.store.login_failures == {}


async def test_a_change_whose_session_ended_otherwise_is_refused_and_not_counted() -> None:
    site = Site()
    await site.register()
    session = await site.log_in(OWNER, PASSWORD, OWNER_AT)
    await users.log_out_everywhere(FakeUnitOfWork(site.store), session.id)

    with pytest.raises(users.SessionEndedMeanwhile):
        await _change(site, session)
    assert site.store.login_failures == {}
    assert (await site.log_in(OWNER, PASSWORD, OWNER_AT)).id == session.id  # unchanged
