"""Registration under throttling: an address that signed up too often lately is refused
before any password is hashed (``domain.sign_ups``), whatever worker or host it reaches."""

from __future__ import annotations

from domain.login_throttle import TooManySignUps
from domain.user import check_password_policy
from service_layer.ports import PasswordHasher
from service_layer.retry import retry_transient
from service_layer.services import users
from service_layer.services.logins import LoginThrottle
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case
from service_layer.views import UserView


@use_case
async def sign_up(
    uow: AbstractUnitOfWork,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    email: str,
    password: str,
    address: str | None,
) -> UserView:
    """``users.register``, counted against this address first (``TooManySignUps`` beyond its
    allowance). A refused password costs no hash and is not counted; a taken email is."""
    check_password_policy(password)
    await _refuse_if_over(uow, throttle, address)
    await _count_sign_up(uow, throttle, address)
    return await users.register(uow, hasher, email, password)


async def _refuse_if_over(
    uow: AbstractUnitOfWork, throttle: LoginThrottle, address: str | None
) -> None:
    """Read first, so an address already over its allowance costs no write."""
    limit = throttle.policy.sign_ups
    async with uow.reading():
        found = await uow.login_failures.get_activity([limit.key(address)])
    wait = limit.wait(found[0] if found else None, throttle.clock(), counted=False)
    if wait is not None:
        raise TooManySignUps(wait)


@use_case
@retry_transient()
async def _count_sign_up(
    uow: AbstractUnitOfWork, throttle: LoginThrottle, address: str | None
) -> None:
    """One atomic increment, which decides: two sign-ups at once cannot both take the last
    place. Stale activity counters are purged on the way."""
    policy, now = throttle.policy, throttle.clock()
    limit = policy.sign_ups
    async with uow:
        counted = await uow.login_failures.count_activity(
            limit.key(address), now, limit.window_starts_after(now)
        )
        wait = limit.wait(counted, now, counted=True)
        if wait is not None:
            raise TooManySignUps(wait)  # not committed: a refused sign-up is not counted
        await uow.login_failures.forget_stale_activity(
            now - max(policy.remember_clients_for, limit.window)
        )
        await uow.commit()
