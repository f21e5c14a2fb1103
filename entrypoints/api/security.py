"""Who is calling, and may they: the only place the API decides authentication and roles.

Routes state their rule by depending on ``current_user`` or ``require_admin`` (or on nothing,
for public reads); services receive the acting user's id and role where a rule needs them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer

from adapters.tokens import InvalidToken
from domain.errors import UnknownUser
from entrypoints.api.dependencies import get_container, get_reads
from service_layer.actor import Actor, Caller
from service_layer.reads import AbstractReads
from service_layer.services import users as user_services
from service_layer.views import UserView

# auto_error=False: a missing token must be our 401 with our JSON body, not FastAPI's.
bearer = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


def _unauthenticated(reason: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def token_caller(token: Annotated[str | None, Depends(bearer)], request: Request) -> Caller:
    """Whom the bearer token names, once its signature, lifetime and claims hold; not yet
    whether the account still accepts it (``current_user`` asks the database)."""
    if not token:
        raise _unauthenticated("not authenticated")
    try:
        claims = get_container(request).token_codec().decode(token)
    except InvalidToken as error:
        raise _unauthenticated("invalid or expired token") from error
    return Caller(claims.user_id, claims.credentials_version, claims.issued_at)


async def current_user(
    caller: Annotated[Caller, Depends(token_caller)],
    reads: Annotated[AbstractReads, Depends(get_reads)],
) -> UserView:
    """The active user the bearer token names.

    The signature proves who the token was issued to; the database, not the token, says
    whether that account still exists, is active, still has the credentials the token was
    issued under, and what its role is now.
    """
    try:
        return await user_services.get_active_user(
            reads,
            caller.user_id,
            credentials_version=caller.credentials_version,
            issued_at=caller.issued_at,
        )
    except UnknownUser as error:
        raise _unauthenticated("invalid or expired token") from error


async def caller_for_unit(
    request: Request, caller: Annotated[Caller, Depends(token_caller)]
) -> Actor | Caller:
    """For a use case that takes ``Actor | Caller`` and opens a unit of work anyway: the
    ``Caller``, so it checks the account on the unit's own connection; or, where the container
    says units should not (``accounts_checked_in_units``: SQLite), the ``Actor`` checked here
    first, on the read port."""
    if get_container(request).accounts_checked_in_units():
        return caller
    # The read port only on this path: a purchase on PostgreSQL never builds one.
    user = await current_user(caller, await get_reads(request))
    return Actor(user_id=user.id, is_admin=user.is_admin)


async def require_admin(user: Annotated[UserView, Depends(current_user)]) -> UserView:
    if not user.is_admin:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admins only")
    return user


async def current_actor(user: Annotated[UserView, Depends(current_user)]) -> Actor:
    """The caller as the service layer knows actors: an id and whether they are staff."""
    return Actor(user_id=user.id, is_admin=user.is_admin)


CurrentUser = Annotated[UserView, Depends(current_user)]
AdminUser = Annotated[UserView, Depends(require_admin)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
CallerForUnit = Annotated[Actor | Caller, Depends(caller_for_unit)]
