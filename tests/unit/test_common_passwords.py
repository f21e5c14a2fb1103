"""The most common passwords are refused (NIST SP 800-63B 5.1.1.2), whichever door sets a
password: registration (422 naming the rule), the services, the operator's CLI."""

from __future__ import annotations

import asyncio
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from adapters.passwords import Argon2PasswordHasher
from domain.errors import InvalidValue
from domain.passwords import COMMON_PASSWORDS_FILE, common_passwords, is_common
from domain.user import check_password_policy
from entrypoints.cli import app
from entrypoints.container import Container
from service_layer.services import users as user_services
from tests.fakes import FakeUnitOfWork, InMemoryStore

ROOT = Path(__file__).resolve().parents[2]
RULE = "password is one of the most commonly used passwords; choose another"
PASSWORD = "correct horse battery"


@pytest.mark.parametrize("password", ["12345678", "password123", "PassWord123", "QWERTYUIOP"])
def test_a_common_password_is_refused_whatever_its_case(password: str) -> None:
    assert is_common(password)
    with pytest.raises(InvalidValue, match=RULE) as refusal:
        check_password_policy(password)
    assert refusal.value.field == "password"


def test_an_uncommon_password_passes() -> None:
    assert not is_common(PASSWORD)
    check_password_policy(PASSWORD)


def test_the_list_is_django_s_twenty_thousand_read_once() -> None:
    assert 19_000 < len(common_passwords()) <= 20_000
    assert common_passwords() is common_passwords()


def test_the_list_and_its_licence_ship_in_the_wheel() -> None:
    """setuptools packages only the package data that pyproject names."""
    data = ROOT / "domain" / "data"
    assert (data / COMMON_PASSWORDS_FILE).is_file()
    assert (
        "BSD" in (data / "README.md").read_text()
        or "Redistribution" in (data / "README.md").read_text()
    )
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["domain"]
    for shipped in (f"data/{COMMON_PASSWORDS_FILE}", "data/README.md"):
        assert any(fnmatch(shipped, pattern) for pattern in package_data), shipped


async def test_registration_answers_422_naming_the_rule(client: httpx.AsyncClient) -> None:
    answer = await client.post("/users/", json={"email": "a@example.com", "password": "12345678"})
    assert answer.status_code == 422, answer.text
    problem = answer.json()["detail"][0]
    assert problem["loc"] == ["body", "password"]
    assert problem["msg"] == RULE


async def test_every_service_that_sets_a_password_refuses_a_common_one(
    fast_hasher: Argon2PasswordHasher,
) -> None:
    store = InMemoryStore()
    user = await user_services.register(
        FakeUnitOfWork(store), fast_hasher, "a@example.com", PASSWORD
    )
    attempts = [
        user_services.register(FakeUnitOfWork(store), fast_hasher, "b@example.com", "12345678"),
        user_services.create_admin(FakeUnitOfWork(store), fast_hasher, "c@example.com", "iloveyou"),
        user_services.reset_password(FakeUnitOfWork(store), fast_hasher, user.email, "Password1"),
        user_services.change_password(
            FakeUnitOfWork(store), fast_hasher, user.id, PASSWORD, "football1"
        ),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidValue, match=RULE):
            await attempt
    assert len(store.users) == 1


def test_the_cli_refuses_a_common_password_for_an_admin_or_a_reset(
    container: Container, store: InMemoryStore
) -> None:
    created = CliRunner(env={"STOCKROOM_ADMIN_PASSWORD": "12345678"}).invoke(
        app, ["users", "create-admin", "boss@example.com"], obj=container
    )
    assert created.exit_code != 0
    assert "most commonly used" in created.output
    assert store.users == {}

    asyncio.run(
        user_services.register(
            container.uow(), container.password_hasher(), "a@example.com", PASSWORD
        )
    )
    reset = CliRunner(env={"STOCKROOM_NEW_PASSWORD": "password1"}).invoke(
        app, ["users", "reset-password", "a@example.com"], obj=container
    )
    assert reset.exit_code != 0
    assert "most commonly used" in reset.output
