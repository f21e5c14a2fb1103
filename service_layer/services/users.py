"""Accounts: registration, login, provisioning and revocation. Services see roles and ids,
never HTTP.

Whatever ends an account's sessions (a password change or reset, a promotion, a deactivation,
"log out everywhere") bumps the user's ``credentials_version`` under a row lock, and
``get_active_user`` refuses a token issued under another version.
"""

from __future__ import annotations

import contextlib
from datetime import datetime

from domain.emails import legacy_email_form
from domain.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidValue,
    UnknownUser,
)
from domain.text import is_storable
from domain.user import (
    PASSWORD_MAX_LENGTH,
    Role,
    User,
    check_password_policy,
    normalise_email,
)
from service_layer.errors import Overloaded
from service_layer.ports import PasswordHasher
from service_layer.reads import AbstractReads
from service_layer.retry import retry_transient
from service_layer.services.password_changes import (  # the accounts' services, in one place
    SessionEndedMeanwhile as SessionEndedMeanwhile,
)
from service_layer.services.password_changes import change_password as change_password
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
        async with uow.reading():  # released before hashing: no connection waits on the CPU
            user = await uow.users.get_by_email(address)
            legacy = legacy_email_form(email)
            if user is None and legacy is not None and legacy != address:
                user = await uow.users.get_by_email(legacy)  # stored before NFKC (domain/emails)
    ok = await hasher.verify(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise InvalidCredentials
    if hasher.needs_rehash(user.password_hash):
        # Under load the login stands and the hash is upgraded at a quieter one.
        with contextlib.suppress(Overloaded):
            await _upgrade_hash(uow, hasher, user.id, user.password_hash, password)  # type: ignore[arg-type]
    return UserView.from_domain(user)


@use_case
@retry_transient()
async def _upgrade_hash(
    uow: AbstractUnitOfWork,
    hasher: PasswordHasher,
    user_id: int,
    verified_hash: str,
    password: str,
) -> None:
    """Hash parameters were raised since this password was set: re-hash while we have it,
    unless the password changed since it was verified (a reset must not be undone)."""
    new_hash = await hasher.hash(password)
    async with uow:
        user = await uow.users.get_for_update(user_id)
        if user.password_hash == verified_hash:
            user.rehash_password(new_hash)
            await uow.commit()


@use_case
async def get_user(uow: AbstractUnitOfWork, user_id: int) -> UserView:
    async with uow.reading():
        return UserView.from_domain(await uow.users.get(user_id))


@use_case
async def list_users(uow: AbstractUnitOfWork, *, skip: int = 0, limit: int = 100) -> list[UserView]:
    async with uow.reading():
        return [UserView.from_domain(user) for user in await uow.users.list(skip=skip, limit=limit)]


@use_case
async def get_active_user(
    reads: AbstractReads, user_id: int, *, credentials_version: int, issued_at: datetime
) -> UserView:
    """The user a token names, if the token is still theirs; ``UnknownUser`` otherwise: the
    account is gone or deactivated, its credentials changed since the token was issued, or
    it was created after the token (an id given out again).

    Read through the read port (one statement, no transaction), but always on the primary:
    a replica may lag behind a revocation by up to its lag bound, and a revoked token must
    not work for those seconds. Anonymous catalog reads still go to replicas.
    """
    user = await reads.latest.user(user_id)
    if (
        user is None
        or not user.is_active
        or user.credentials_version != credentials_version
        # Tokens count whole seconds; an account made at 12:00:00.7 may log in at 12:00:00.9.
        or issued_at < user.created_at.replace(microsecond=0)
    ):
        raise UnknownUser(user_id)
    return user


@use_case
@retry_transient()
async def create_admin(
    uow: AbstractUnitOfWork,
    hasher: PasswordHasher,
    email: str,
    password: str,
    *,
    promote: bool = False,
) -> tuple[UserView, bool]:
    """A new admin with this email and password; ``True`` if newly created.

    An existing account is ``EmailTaken`` unless ``promote``: anyone may register an address
    before the operator provisions it, and promoting that account silently would hand the
    squatter's session admin rights. Promoted, it is reactivated and given this password, and
    every token issued before (the squatter's included) stops working.
    """
    check_password_policy(password)
    address = normalise_email(email)
    password_hash = await hasher.hash(password)
    async with uow:
        user = await uow.users.get_by_email(address, for_update=True)
        created = user is None
        if user is None:
            user = User(email=address, password_hash=password_hash, role=Role.ADMIN)
            await uow.users.add(user)
        elif not promote:
            raise EmailTaken
        else:
            user.promote_to_admin()
            user.activate()
            user.set_password_hash(password_hash)
        await uow.commit()
        return UserView.from_domain(user), created


@use_case
@retry_transient()
async def log_out_everywhere(uow: AbstractUnitOfWork, user_id: int) -> None:
    """Every token of the user stops working, the one that asked included."""
    async with uow:
        (await uow.users.get_for_update(user_id)).revoke_tokens()
        await uow.commit()


@use_case
@retry_transient()
async def reset_password(
    uow: AbstractUnitOfWork, hasher: PasswordHasher, email: str, new_password: str
) -> UserView:
    """An operator sets a new password: every session ends; the role does not change."""
    check_password_policy(new_password)
    new_hash = await hasher.hash(new_password)
    async with uow:
        user = await _by_email_for_update(uow, email)
        user.set_password_hash(new_hash)
        await uow.commit()
        return UserView.from_domain(user)


@use_case
@retry_transient()
async def activate_user(uow: AbstractUnitOfWork, email: str) -> tuple[UserView, bool]:
    """A deactivated account may log in again, with its role and password as they were;
    ``True`` if it was deactivated. Its credentials version stays: the deactivation already
    ended every session, and no token can have been issued since."""
    async with uow:
        user = await _by_email_for_update(uow, email)
        was_deactivated = not user.is_active
        user.activate()
        await uow.commit()
        return UserView.from_domain(user), was_deactivated


@use_case
@retry_transient()
async def deactivate_user(uow: AbstractUnitOfWork, email: str) -> UserView:
    """The account can no longer log in, and every session ends."""
    async with uow:
        user = await _by_email_for_update(uow, email)
        user.deactivate()
        await uow.commit()
        return UserView.from_domain(user)


async def _by_email_for_update(uow: AbstractUnitOfWork, email: str) -> User:
    user = await uow.users.get_by_email(normalise_email(email), for_update=True)
    if user is None:
        raise UnknownUser
    return user
