"""``/users`` and ``/token``: registration, login, who am I, and ending sessions.

Every answer here is about one account (a token, its details), so none may be kept by a
cache on the way: ``Cache-Control: no-store`` on all of them (RFC 6749 5.1 asks it of token
responses; an account's details are personal data).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status

from adapters.tokens import JwtTokenCodec
from domain.errors import InvalidCredentials
from entrypoints.api.dependencies import Hasher, Throttle, TokenCodec, UnitOfWork
from entrypoints.api.response_models import TokenOut, UserOut
from entrypoints.api.responses import RETRY_AFTER, SIGNED_IN, UNAVAILABLE, Responses, error
from entrypoints.api.schemas import PasswordChange, Registration, TokenRequest
from entrypoints.api.security import CurrentUser
from entrypoints.api.token_errors import (
    TOKEN_PATH,
    TokenErrorOut,
    TokenRoute,
    wrong_credentials,
)
from service_layer.services import logins as login_services
from service_layer.services import sign_ups
from service_layer.services import users as services
from service_layer.views import UserView


async def _no_store(response: Response) -> None:
    response.headers["Cache-Control"] = "no-store"


router = APIRouter(tags=["users"], dependencies=[Depends(_no_store)])

THROTTLED: Responses = {429: error("Too many failed logins", headers=RETRY_AFTER)}
EMAIL_TAKEN: Responses = {
    **UNAVAILABLE,
    409: error("Email already registered"),
    429: error("Too many sign-ups from this address", headers=RETRY_AFTER),
}
BAD_LOGIN: Responses = {
    **UNAVAILABLE,
    400: {
        "model": TokenErrorOut,
        "description": "OAuth 2.0 error (RFC 6749 5.2): invalid_grant (incorrect email or "
        "password), invalid_request (username or password missing), unsupported_grant_type",
    },
    **THROTTLED,
}
WRONG_PASSWORD: Responses = {
    **SIGNED_IN,
    403: error("The current password is not correct"),
    **THROTTLED,
}


def _token_for(codec: JwtTokenCodec, user: UserView) -> TokenOut:
    token = codec.issue(user.id, user.role.value, credentials_version=user.credentials_version)
    return TokenOut(access_token=token)


def _client_address(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post(
    "/users/", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=EMAIL_TAKEN
)
async def register(
    body: Registration, request: Request, uow: UnitOfWork, hasher: Hasher, throttle: Throttle
) -> UserView:
    """A new customer account. A password among the 20,000 most commonly used ones is
    refused with a 422 (NIST SP 800-63B 5.1.1.2), compared case-insensitively. Throttled per
    client address (429 with Retry-After), before the password is hashed."""
    return await sign_ups.sign_up(
        uow,
        hasher,
        throttle,
        body.email,
        body.password.get_secret_value(),
        address=_client_address(request),
    )


# Its own router only for its route class: a form FastAPI refuses is an OAuth error too.
token_router = APIRouter(route_class=TokenRoute)


@token_router.post(TOKEN_PATH, responses=BAD_LOGIN)
async def log_in(
    form: Annotated[TokenRequest, Form()],
    request: Request,
    uow: UnitOfWork,
    hasher: Hasher,
    throttle: Throttle,
    codec: TokenCodec,
) -> TokenOut:
    """OAuth2 password flow: form fields ``username`` (the email) and ``password``.

    Refusals are OAuth 2.0 errors (RFC 6749 5.2): 400 ``invalid_grant`` for wrong
    credentials, ``invalid_request`` for a missing field, ``unsupported_grant_type``.
    Throttled per account and per client address (429 with Retry-After); the address is the
    connection's peer, or the proxy's ``X-Forwarded-For`` when the proxy is one the operator
    trusts (``STOCKROOM_TRUSTED_PROXIES``).
    """
    try:
        user = await login_services.log_in(
            uow,
            hasher,
            throttle,
            form.username,
            form.password.get_secret_value(),
            address=_client_address(request),
        )
    except InvalidCredentials:
        raise wrong_credentials() from None
    return _token_for(codec, user)


router.include_router(token_router)


@router.get("/users/me", response_model=UserOut, responses=SIGNED_IN)
async def get_me(user: CurrentUser) -> UserView:
    return user


@router.post("/users/me/password", responses=WRONG_PASSWORD)
async def change_password(
    body: PasswordChange,
    user: CurrentUser,
    request: Request,
    uow: UnitOfWork,
    hasher: Hasher,
    throttle: Throttle,
    codec: TokenCodec,
) -> TokenOut:
    """A new password, given the current one. Every token issued before stops working, the
    one sent included; the answer is a fresh token, so this client stays signed in. Wrong
    current passwords are throttled as failed logins are (429 with Retry-After)."""
    changed = await login_services.change_own_password(
        uow,
        hasher,
        throttle,
        user,
        (body.current_password.get_secret_value(), body.new_password.get_secret_value()),
        address=_client_address(request),
    )
    return _token_for(codec, changed)


@router.post("/users/me/logout-all", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN)
async def log_out_everywhere(user: CurrentUser, uow: UnitOfWork) -> None:
    """Every token of this account stops working, the one sent included."""
    await services.log_out_everywhere(uow, user.id)
