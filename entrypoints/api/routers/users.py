"""``/users`` and ``/token``: registration, login, and who am I."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from entrypoints.api.dependencies import UnitOfWork, get_container
from entrypoints.api.schemas import ErrorOut, Registration, TokenOut, UserOut
from entrypoints.api.security import CurrentUser
from service_layer.services import users as services

router = APIRouter(tags=["users"])

Responses = dict[int | str, dict[str, Any]]
EMAIL_TAKEN: Responses = {409: {"model": ErrorOut, "description": "Email already registered"}}
BAD_LOGIN: Responses = {401: {"model": ErrorOut, "description": "Incorrect email or password"}}


@router.post("/users/", status_code=status.HTTP_201_CREATED, responses=EMAIL_TAKEN)
async def register(body: Registration, request: Request, uow: UnitOfWork) -> UserOut:
    hasher = get_container(request).password_hasher()
    user = await services.register(uow, hasher, body.email, body.password.get_secret_value())
    return UserOut.from_view(user)


@router.post("/token", responses=BAD_LOGIN)
async def login(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, uow: UnitOfWork
) -> TokenOut:
    """OAuth2 password flow: form fields ``username`` (the email) and ``password``."""
    container = get_container(request)
    hasher = container.password_hasher()
    user = await services.authenticate(uow, hasher, form.username, form.password)
    return TokenOut(access_token=container.token_codec().issue(user.id, user.role.value))


@router.get("/users/me", responses={401: {"model": ErrorOut}})
async def me(user: CurrentUser) -> UserOut:
    return UserOut.from_view(user)
