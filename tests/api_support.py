"""What every API test shares: a test container, clients that police secrets, accounts.

Every client built here checks every response body of the run: no Argon2 hash and no
password a test ever used may appear in one, whatever the route or status.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx
from dependency_injector import providers
from fastapi import FastAPI

from adapters.passwords import Argon2PasswordHasher
from entrypoints.container import Container, build_container
from entrypoints.settings import Settings
from service_layer.services import users as user_services
from tests.conftest import FAST_ARGON2, TEST_SECRET_KEY

ISSUED_PASSWORDS: set[str] = set()


def new_password() -> str:
    password = f"pw-{secrets.token_hex(8)}"
    ISSUED_PASSWORDS.add(password)
    return password


async def assert_no_secrets(response: httpx.Response) -> None:
    body = await response.aread()
    assert b"$argon2" not in body, f"a password hash leaked from {response.request.url}"
    leaked = [password for password in ISSUED_PASSWORDS if password.encode() in body]
    assert not leaked, f"a password leaked from {response.request.url}"


def new_address() -> str:
    """A client address of its own (RFC 2544's benchmarking range): failed logins of one test
    never count against another's address in a database the run shares."""
    return f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(256)}"


def api_client(app: FastAPI, address: str | None = None) -> httpx.AsyncClient:
    """A client that calls ``app`` in-process from ``address`` (``request.client.host``, as
    uvicorn would give it), a fresh one unless given."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address or new_address(), 40123)),
        base_url="http://test",
        event_hooks={"response": [assert_no_secrets]},
    )


def build_test_container(
    database_url: str = "sqlite+aiosqlite:///:memory:", **settings: Any
) -> Container:
    """The real container with a fixed signing key (no key file) and cheap Argon2 parameters;
    ``settings`` override any other setting."""
    container = build_container(
        Settings(database_url=database_url, secret_key=TEST_SECRET_KEY, **settings)
    )
    container.password_hasher.override(providers.Singleton(Argon2PasswordHasher, **FAST_ARGON2))
    return container


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def make_account(container: Container, *, admin: bool, email: str | None = None) -> Account:
    """An account created through the services (as the CLI does) and a token for it."""
    email = email or f"{'admin' if admin else 'customer'}-{secrets.token_hex(4)}@example.com"
    password = new_password()
    hasher = container.password_hasher()
    if admin:
        user, _ = await user_services.create_admin(container.uow(), hasher, email, password)
    else:
        user = await user_services.register(container.uow(), hasher, email, password)
    token = container.token_codec().issue(
        user.id, user.role.value, credentials_version=user.credentials_version
    )
    return Account(id=user.id, email=user.email, password=password, token=token)
