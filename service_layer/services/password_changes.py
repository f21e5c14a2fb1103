"""Changing one's own password: given the current one, ending every session; a double
submission's twin is answered as done, not counted as a wrong password (issue 26)."""

from __future__ import annotations

from domain.errors import IncorrectPassword
from domain.text import is_storable
from domain.user import PASSWORD_MAX_LENGTH, User, check_password_policy
from service_layer.ports import PasswordHasher
from service_layer.retry import retry_transient
from service_layer.unit_of_work import AbstractUnitOfWork
from service_layer.use_cases import use_case
from service_layer.views import UserView


class SessionEndedMeanwhile(IncorrectPassword):
    """The session asking for a change ended while it was in flight (another change, a
    reset, "log out everywhere"): the current password it sent may have been right when it
    was sent, so this is no failed guess."""


@use_case
async def change_password(
    uow: AbstractUnitOfWork,
    hasher: PasswordHasher,
    user_id: int,
    current_password: str,
    new_password: str,
    *,
    session_version: int | None = None,
) -> UserView:
    """The signed-in user's new password, given the current one (``IncorrectPassword``
    otherwise). Every session ends; the returned view has the new version, for the caller's
    fresh token.

    ``session_version``: the credentials version of the asking session. If it has ended by
    the time the change is made, the request is a double submission's twin or comes too
    late: answered as done (no second change) if its new password is the one in force, else
    ``SessionEndedMeanwhile``."""
    check_password_policy(new_password)
    async with uow.reading():  # released before hashing: no connection waits on the CPU
        user = await uow.users.get(user_id)
    if session_version is not None and user.credentials_version != session_version:
        return await _already_changed(hasher, user, new_password)
    if not await _verifies(hasher, user.password_hash, current_password):
        raise IncorrectPassword
    new_hash = await hasher.hash(new_password)
    try:
        return await _store_new_password(uow, user_id, user.password_hash, new_hash)
    except SessionEndedMeanwhile:
        async with uow.reading():
            user = await uow.users.get(user_id)
        return await _already_changed(hasher, user, new_password)


async def _already_changed(hasher: PasswordHasher, user: User, new_password: str) -> UserView:
    if await _verifies(hasher, user.password_hash, new_password):
        return UserView.from_domain(user)
    raise SessionEndedMeanwhile


@use_case
@retry_transient()
async def _store_new_password(
    uow: AbstractUnitOfWork, user_id: int, verified_hash: str, new_hash: str
) -> UserView:
    """The write of ``change_password``, retried on its own: a retry needs no new hashing."""
    async with uow:
        user = await uow.users.get_for_update(user_id)
        if user.password_hash != verified_hash:
            raise SessionEndedMeanwhile  # what was verified is no longer the password
        user.set_password_hash(new_hash)
        await uow.commit()
        return UserView.from_domain(user)


async def _verifies(hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    if len(password) > PASSWORD_MAX_LENGTH or not is_storable(password):
        return False  # no account has such a password; skip the costly hash
    return await hasher.verify(password_hash, password)
