"""``POST /token`` refuses in OAuth 2.0's terms (RFC 6749 5.2): 400 with
``{"error": ..., "error_description": ...}``, which OAuth client libraries raise from and
Swagger UI's Authorize dialog shows, where the rest of the API answers ``{"detail": ...}``.

- ``invalid_grant``: wrong credentials (whatever was wrong: no such account, a wrong password,
  a deactivated account).
- ``invalid_request``: ``username`` or ``password`` missing (a JSON body, say), instead of the
  API's 422 list.
- ``unsupported_grant_type``: a ``grant_type`` other than ``password``.

Each description says that ``username`` is the account's email: the form's field names are
OAuth's, and nothing else in the API calls an email a user name. The throttle's 429 and the
503 keep the API's own body: RFC 6749 has no code for either at this endpoint (``slow_down``
is RFC 8628's, for device polling), and their Retry-After is what a client acts on.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Literal

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

TOKEN_PATH = "/token"  # noqa: S105 - a path, not a secret
TokenErrorCode = Literal["invalid_request", "invalid_grant", "unsupported_grant_type"]

USERNAME_IS_THE_EMAIL = "username is the account's email address"
# The form's fields (RFC 6749 4.3.2, and client credentials in the body, 2.3.1): the only
# names a description repeats from a request.
FORM_FIELDS = ("grant_type", "username", "password", "scope", "client_id", "client_secret")


class TokenErrorOut(BaseModel):
    """An OAuth 2.0 error response (RFC 6749 5.2)."""

    error: TokenErrorCode
    error_description: str = Field(
        description="For the developer: what was wrong, in plain words (never the value sent)."
    )


class TokenRequestRefused(Exception):
    """A token request answered with an OAuth 2.0 error (``errors.py`` renders it)."""

    def __init__(self, error: TokenErrorCode, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description

    def body(self) -> dict[str, str]:
        return TokenErrorOut(error=self.error, error_description=self.description).model_dump()


def wrong_credentials() -> TokenRequestRefused:
    return TokenRequestRefused(
        "invalid_grant", f"incorrect email or password ({USERNAME_IS_THE_EMAIL})"
    )


def refusal_of(problems: Sequence[Any]) -> TokenRequestRefused:
    """What a form FastAPI could not validate means in OAuth's terms."""
    fields = {
        problem["loc"][-1]
        for problem in problems
        if problem.get("loc") and problem["loc"][-1] in FORM_FIELDS
    }
    if "grant_type" in fields:  # FastAPI's form allows only "password" (or none)
        return TokenRequestRefused(
            "unsupported_grant_type",
            f"grant_type must be password, or left out ({USERNAME_IS_THE_EMAIL})",
        )
    named = ", ".join(name for name in FORM_FIELDS if name in fields) or "username, password"
    return TokenRequestRefused(
        "invalid_request",
        f"missing or malformed form fields: {named}; send username and password as "
        f"application/x-www-form-urlencoded fields ({USERNAME_IS_THE_EMAIL})",
    )


class TokenRoute(APIRoute):
    """The token route: a form FastAPI refuses is an OAuth error, not the API's 422."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        answer = super().get_route_handler()

        async def answer_in_oauth_terms(request: Request) -> Response:
            try:
                return await answer(request)
            except RequestValidationError as error:
                raise refusal_of(error.errors()) from None

        return answer_in_oauth_terms


def without_the_token_422(app: FastAPI) -> None:
    """Drops the 422 FastAPI lists on every operation with parameters from ``POST /token``'s
    documentation: it never answers one (``TokenRoute`` answers a refused form with a 400 in
    OAuth's terms), and a generated client would otherwise type an answer that never comes.
    FastAPI has no per-route switch for it, hence this edit of the built (cached) document."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = build()
        if fresh:
            document["paths"][TOKEN_PATH]["post"]["responses"].pop("422")
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend it
