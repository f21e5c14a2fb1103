"""``POST /token`` refuses in OAuth 2.0's terms (RFC 6749 5.2), on the fakes: 400 with
``error`` and an ``error_description`` that says ``username`` is the email, for wrong
credentials, a missing field and another grant type; and the OpenAPI document says so."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.api_support import Account

OAUTH_ERROR_KEYS = {"error", "error_description"}


def _oauth_error(answer: httpx.Response) -> str:
    """The error code of a 400 in OAuth's form, checking what every such answer shares."""
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert set(body) == OAUTH_ERROR_KEYS, body
    assert "username is the account's email address" in body["error_description"]
    # RFC 6749 5.2: error_description is printable ASCII without '"' or '\'.
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in body["error_description"])
    assert answer.headers["Cache-Control"] == "no-store"
    assert "WWW-Authenticate" not in answer.headers  # only for invalid_client (RFC 6749 5.2)
    return str(body["error"])


async def test_wrong_credentials_are_invalid_grant_whatever_was_wrong(
    client: httpx.AsyncClient, customer: Account
) -> None:
    wrong_password = await client.post(
        "/token", data={"username": customer.email, "password": "not the password"}
    )
    unknown_email = await client.post(
        "/token", data={"username": "nobody@example.com", "password": customer.password}
    )
    not_an_email = await client.post("/token", data={"username": "ann", "password": "whatever"})

    for answer in (wrong_password, unknown_email, not_an_email):
        assert _oauth_error(answer) == "invalid_grant"
    assert wrong_password.json() == unknown_email.json() == not_an_email.json()
    assert wrong_password.json()["error_description"].startswith("incorrect email or password")


@pytest.mark.parametrize(
    ("form", "named"),
    [
        ({"username": "ann@example.com"}, "password"),
        ({"password": "a password"}, "username"),
        ({}, "username, password"),
    ],
)
async def test_a_missing_field_is_invalid_request_naming_it(
    client: httpx.AsyncClient, form: dict[str, str], named: str
) -> None:
    answer = await client.post("/token", data=form)

    assert _oauth_error(answer) == "invalid_request"
    assert f"form fields: {named};" in answer.json()["error_description"]


async def test_json_instead_of_a_form_is_invalid_request(
    client: httpx.AsyncClient, customer: Account
) -> None:
    body = {"username": customer.email, "password": customer.password}

    answer = await client.post("/token", json=body)

    assert _oauth_error(answer) == "invalid_request"
    assert "application/x-www-form-urlencoded" in answer.json()["error_description"]


async def test_another_grant_type_is_unsupported_grant_type(
    client: httpx.AsyncClient, customer: Account
) -> None:
    form = {"username": customer.email, "password": customer.password}

    other = await client.post("/token", data={**form, "grant_type": "client_credentials"})
    password = await client.post("/token", data={**form, "grant_type": "password"})
    left_out = await client.post("/token", data=form)

    assert _oauth_error(other) == "unsupported_grant_type"
    assert "client_credentials" not in other.text  # the value sent is never echoed
    assert (password.status_code, left_out.status_code) == (200, 200)


def test_the_openapi_document_declares_the_oauth_error_not_a_401(app: FastAPI) -> None:
    document = app.openapi()
    responses = document["paths"]["/token"]["post"]["responses"]

    assert "401" not in responses
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenErrorOut"
    }
    schema = document["components"]["schemas"]["TokenErrorOut"]
    assert schema["required"] == ["error", "error_description"]
    assert set(schema["properties"]["error"]["enum"]) == {
        "invalid_request",
        "invalid_grant",
        "unsupported_grant_type",
    }
