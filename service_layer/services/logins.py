"""Logging in under throttling: a blocked login is refused before any password is hashed.

The policy (what is free, how long a block lasts, why the owner is never locked out) lives in
``domain.login_throttle``; this module applies it through units of work, so every worker and
host reads and counts the same failures. The counters are read on the primary, in a unit of
work, never from a replica that might not have seen the latest failures yet.

Checking and counting are separate steps around the hash, so a burst of attempts sent at the
same moment may all pass the check before the first failure is counted. Each is still counted
(the block that follows is as long as if they had come one by one), and the burst is bounded
by how many hashes a process runs at once (``Overloaded`` beyond that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.address_activity import ActivityCounter
from domain.errors import IncorrectPassword, InvalidCredentials, InvalidValue
from domain.login_throttle import (
    FailureCounter,
    LoginAttempt,
    LoginThrottlePolicy,
    ThrottleKey,
    TooManyFailedLogins,
)
from domain.user import normalise_email
from service_layer.ports import PasswordHasher
from service_layer.retry import retry_transient
from service_layer.services import users
from service_layer.services.users import authenticate
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case
from service_layer.views import UserView


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class LoginThrottle:
    """The policy, and the clock it runs on (tests pass one they can move)."""

    policy: LoginThrottlePolicy = field(default_factory=LoginThrottlePolicy)
    clock: Callable[[], datetime] = _utc_now


@use_case
async def log_in(
    uow: AbstractUnitOfWork,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    email: str,
    password: str,
    address: str | None,
) -> UserView:
    """``authenticate``, unless this account or address has failed too often lately
    (``TooManyFailedLogins``). A failure is counted; a success clears this address's failures
    on this account, and makes this address a known client of the account."""
    attempt = LoginAttempt.of(_account(email), address)
    seen, marks = await _refuse_if_blocked(uow, throttle, attempt)
    try:
        user = await authenticate(uow, hasher, email, password)
    except InvalidCredentials:
        await _count_failure(uow, throttle, attempt)
        raise
    own = attempt.account_at_address
    forget = own if own is not None and own in {counter.key for counter in seen} else None
    remember = throttle.policy.should_remember(attempt, marks, throttle.clock())
    if forget is not None or remember:
        await _count_success(uow, throttle, attempt, forget=forget, remember=remember)
    return user


@use_case
async def change_own_password(
    uow: AbstractUnitOfWork,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    user: UserView,
    passwords: tuple[str, str],
    address: str | None,
) -> UserView:
    """``users.change_password`` (``passwords``: the current one, the new one), throttled as a
    login is: its current password is a guess at the account's password, and a stolen token
    must not buy unlimited guesses. Failures count on the login's counters, so guesses spread
    over both doors add up."""
    attempt = LoginAttempt.of(_account(user.email), address)
    await _refuse_if_blocked(uow, throttle, attempt)
    current, new = passwords
    try:
        return await users.change_password(
            uow, hasher, user.id, current, new, session_version=user.credentials_version
        )
    except users.SessionEndedMeanwhile:
        raise  # no guess was wrong: not counted
    except IncorrectPassword:
        await _count_failure(uow, throttle, attempt)
        raise


def _account(email: str) -> str | None:
    """The account's key: its normalised email, so ``Ann@x.org`` and ``ann@x.org`` share one
    counter. ``None`` for what cannot be an email: no account is at risk."""
    try:
        return normalise_email(email)
    except InvalidValue:
        return None


async def _refuse_if_blocked(
    uow: AbstractUnitOfWork, throttle: LoginThrottle, attempt: LoginAttempt
) -> tuple[Sequence[FailureCounter], Sequence[ActivityCounter]]:
    known = [attempt.known_client] if attempt.known_client is not None else []
    async with uow.reading():
        counters = await uow.login_failures.get(attempt.keys)
        marks = await uow.login_failures.get_activity(known)
    wait = throttle.policy.wait(attempt, counters, throttle.clock(), marks)
    if wait is not None:
        raise TooManyFailedLogins(wait)
    return counters, marks


@use_case
@retry_transient()
async def _count_failure(
    uow: AbstractUnitOfWork, throttle: LoginThrottle, attempt: LoginAttempt
) -> None:
    """One more failure on each of the attempt's counters, blocking those past their
    allowance; then stale counters are purged, so the table holds only the failures of the
    last ``forget_after``."""
    policy, now = throttle.policy, throttle.clock()
    forget_before = policy.forget_before(now)
    async with uow:
        for key in attempt.keys:  # in key order: concurrent units lock counters alike
            failures = await uow.login_failures.add_failure(key, now, forget_before)
            until = policy.block_after(key, failures, now)
            if until is not None:
                await uow.login_failures.block(key, until)
        await uow.login_failures.forget_stale(forget_before)
        await uow.commit()


@use_case
@retry_transient()
async def _count_success(
    uow: AbstractUnitOfWork,
    throttle: LoginThrottle,
    attempt: LoginAttempt,
    *,
    forget: ThrottleKey | None,
    remember: bool,
) -> None:
    """This address's failures on the account are forgotten, and (``remember``) it becomes,
    or stays, a known client of the account; known clients not seen for long are purged."""
    policy, now = throttle.policy, throttle.clock()
    async with uow:
        if forget is not None:
            await uow.login_failures.forget(forget)
        if remember and attempt.known_client is not None:
            since = now - policy.remember_clients_for
            await uow.login_failures.count_activity(attempt.known_client, now, since)
            await uow.login_failures.forget_stale_activity(
                now - max(policy.remember_clients_for, policy.sign_ups.window)
            )
        await uow.commit()
