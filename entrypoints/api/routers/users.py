"""``/users`` and ``/token``: registration, login, and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from entrypoints.api.dependencies import UnitOfWork, get_container
from entrypoints.api.schemas import ErrorOut, Registration, TokenOut, UserOut
from entrypoints.api.security import CurrentUser
from service_layer.services import logins as login_services
from service_layer.services import users as services

router = APIRouter(tags=["users"])

Responses = dict[int | str, dict[str, Any]]
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
# Every route that hashes a password: each process hashes a bounded number at once.
HASHING_BUSY: Responses = {
    503: {"model": ErrorOut, "description": "Too many hashes at once", "headers": RETRY_AFTER}
}
EMAIL_TAKEN: Responses = {
    409: {"model": ErrorOut, "description": "Email already registered"},
    **HASHING_BUSY,
}
BAD_LOGIN: Responses = {
    401: {"model": ErrorOut, "description": "Incorrect email or password"},
    429: {"model": ErrorOut, "description": "Too many failed logins", "headers": RETRY_AFTER},
    **HASHING_BUSY,
}


@router.post("/users/", status_code=status.HTTP_201_CREATED, responses=EMAIL_TAKEN)
async def register(body: Registration, request: Request, uow: UnitOfWork) -> UserOut:
    hasher = get_container(request).password_hasher()
    user = await services.register(uow, hasher, body.email, body.password.get_secret_value())
    return UserOut.from_view(user)


@router.post("/token", responses=BAD_LOGIN)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, uow: UnitOfWork
) -> TokenOut:
    """OAuth2 password flow: form fields ``username`` (the email) and ``password``.

    Throttled per account and per client address (429 with Retry-After); the address is the
    connection's peer as uvicorn gives it, the proxy's ``X-Forwarded-For`` when the proxy is
    trusted (``stockroom serve --forwarded-allow-ips``).
    """
    container = get_container(request)
    user = await login_services.log_in(
        uow,
        container.password_hasher(),
        container.login_throttle(),
        form.username,
        form.password,
        address=request.client.host if request.client else None,
    )
    return TokenOut(access_token=container.token_codec().issue(user.id, user.role.value))


@router.get("/users/me", responses={401: {"model": ErrorOut}})
async def me(user: CurrentUser) -> UserOut:
    return UserOut.from_view(user)
