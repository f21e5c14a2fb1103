"""Registration, login and admin provisioning. Services see roles and ids, never HTTP."""

from __future__ import annotations

from domain.errors import InvalidCredentials, InvalidValue, UnknownUser
from domain.text import is_storable
from domain.user import (
    PASSWORD_MAX_LENGTH,
    Role,
    User,
    check_password_policy,
    normalise_email,
)
from service_layer.ports import PasswordHasher
from service_layer.reads import AbstractReads
from service_layer.retry import retry_transient
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case
from service_layer.views import UserView


@use_case
@retry_transient()
async def register(
    uow: AbstractUnitOfWork, hasher: PasswordHasher, email: str, password: str
) -> UserView:
    """A new customer. The hash is computed before the unit opens: no connection is held
    while the CPU works."""
    check_password_policy(password)
    user = User(email=email, password_hash=await hasher.hash(password), role=Role.CUSTOMER)
    async with uow:
        await uow.users.add(user)
        await uow.commit()  # EmailTaken, from the unique constraint, if someone beat us to it
        return UserView.from_domain(user)


@use_case
async def authenticate(
    uow: AbstractUnitOfWork, hasher: PasswordHasher, email: str, password: str
) -> UserView:
    """The active user with these credentials, or ``InvalidCredentials`` (whatever was wrong)."""
    if len(password) > PASSWORD_MAX_LENGTH or not is_storable(password):
        raise InvalidCredentials  # no account has such a password; skip the costly hash
    try:
        address: str | None = normalise_email(email)
    except InvalidValue:
        address = None
    user = None
    if address is not None:
        async with uow:  # released before hashing: no connection waits on the CPU
            user = await uow.users.get_by_email(address)
    ok = await hasher.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise InvalidCredentials
    if hasher.needs_rehash(user.password_hash):
        await _upgrade_hash(uow, hasher, user.id, password)  # type: ignore[arg-type]
    return UserView.from_domain(user)


@use_case
@retry_transient()
async def _upgrade_hash(
    uow: AbstractUnitOfWork, hasher: PasswordHasher, user_id: int, password: str
) -> None:
    """Hash parameters were raised since this password was set: re-hash while we have it."""
    new_hash = await hasher.hash(password)
    async with uow:
        (await uow.users.get(user_id)).change_password_hash(new_hash)
        await uow.commit()


@use_case
async def get_user(uow: AbstractUnitOfWork, user_id: int) -> UserView:
    async with uow:
        return UserView.from_domain(await uow.users.get(user_id))


@use_case
async def get_active_user(reads: AbstractReads, user_id: int) -> UserView:
    """The user behind a token: a deactivated account counts as gone. Read on every
    authenticated request, so it takes the read port: one statement, no transaction."""
    user = await reads.user(user_id)
    if user is None:
        # Not there may only mean not there *yet* (a replica behind the primary): an account
        # a moment old must not be told its token is invalid. Rare, so the primary is cheap.
        user = await reads.latest().user(user_id)
    if user is None or not user.is_active:
        raise UnknownUser(user_id)
    return user


@use_case
@retry_transient()
async def create_admin(
    uow: AbstractUnitOfWork, hasher: PasswordHasher, email: str, password: str
) -> tuple[UserView, bool]:
    """Ensure an active admin with this email and password exists; ``True`` if newly created.

    Idempotent for provisioning scripts: an existing account is promoted, reactivated and
    given the new password instead of being duplicated.
    """
    check_password_policy(password)
    address = normalise_email(email)
    password_hash = await hasher.hash(password)
    async with uow:
        user = await uow.users.get_by_email(address)
        created = user is None
        if user is None:
            user = User(email=address, password_hash=password_hash, role=Role.ADMIN)
            await uow.users.add(user)
        else:
            user.promote_to_admin()
            user.activate()
            user.change_password_hash(password_hash)
        await uow.commit()
        return UserView.from_domain(user), created


@use_case
@retry_transient()
async def deactivate_user(uow: AbstractUnitOfWork, user_id: int) -> UserView:
    async with uow:
        user = await uow.users.get(user_id)
        user.deactivate()
        await uow.commit()
        return UserView.from_domain(user)
