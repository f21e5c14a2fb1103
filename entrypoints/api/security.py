"""Who is calling, and may they: the only place the API decides authentication and roles.

Routes state their rule by depending on ``CurrentUser``, ``CurrentActor`` or ``require_admin``
(or on nothing, for public reads); services receive the acting user's id and role where a
rule needs them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer

from adapters.tokens import InvalidToken
from domain.errors import UnknownUser
from entrypoints.api.dependencies import Reads, TokenCodec
from service_layer.actor import Actor
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


async def current_user(
    token: Annotated[str | None, Depends(bearer)], codec: TokenCodec, reads: Reads
) -> UserView:
    """The active user the bearer token names.

    The signature proves who the token was issued to; the database, not the token, says
    whether that account still exists, is active, still has the credentials the token was
    issued under, and what its role is now.
    """
    if not token:
        raise _unauthenticated("not authenticated")
    try:
        claims = codec.decode(token)
    except InvalidToken as error:
        raise _unauthenticated("invalid or expired token") from error
    try:
        return await user_services.get_active_user(
            reads,
            claims.user_id,
            credentials_version=claims.credentials_version,
            issued_at=claims.issued_at,
        )
    except UnknownUser as error:
        raise _unauthenticated("invalid or expired token") from error


CurrentUser = Annotated[UserView, Depends(current_user)]


async def require_admin(user: CurrentUser) -> UserView:
    if not user.is_admin:
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="admins only")
    return user


async def current_actor(user: CurrentUser) -> Actor:
    """The caller as the service layer knows actors: an id and whether they are staff."""
    return Actor(user_id=user.id, is_admin=user.is_admin)


AdminUser = Annotated[UserView, Depends(require_admin)]
CurrentActor = Annotated[Actor, Depends(current_actor)]
