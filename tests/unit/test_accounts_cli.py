"""Accounts from the operator's side, on the fakes: reactivating an account (the use case and
``stockroom users activate``), a reset on a deactivated account saying so, and ``--debug``
keeping the traceback behind a one-line error."""

from __future__ import annotations

import asyncio

import pytest
from typer.testing import CliRunner

from adapters.passwords import Argon2PasswordHasher
from domain.errors import InvalidCredentials, UnknownUser
from domain.user import Role
from entrypoints.cli import app
from entrypoints.container import Container
from service_layer.services import users as services
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.cli_support import Run

PASSWORD = "correct horse battery"


async def _customer(store: InMemoryStore, hasher: Argon2PasswordHasher, email: str) -> int:
    return (await services.register(FakeUnitOfWork(store), hasher, email, PASSWORD)).id


def _deactivated_customer(container: Container, email: str) -> int:
    async def make() -> int:
        user = await services.register(
            container.uow(), container.password_hasher(), email, PASSWORD
        )
        await services.deactivate_user(container.uow(), email)
        return user.id

    return asyncio.run(make())


async def _customer_on(container: Container, email: str) -> int:
    hasher = container.password_hasher()
    return (await services.register(container.uow(), hasher, email, PASSWORD)).id


def _can_log_in(container: Container, email: str, password: str) -> bool:
    try:
        asyncio.run(
            services.authenticate(container.uow(), container.password_hasher(), email, password)
        )
    except InvalidCredentials:
        return False
    return True


# --- the use case ------------------------------------------------------------------------------


async def test_activate_lets_a_deactivated_customer_log_in_again_as_a_customer(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _customer(store, fast_hasher, "back@example.com")
    await services.deactivate_user(FakeUnitOfWork(store), "back@example.com")
    version = store.users[user_id].credentials_version

    user, was_deactivated = await services.activate_user(FakeUnitOfWork(store), "BACK@example.com")

    assert was_deactivated
    assert (user.id, user.is_active, user.role) == (user_id, True, Role.CUSTOMER)
    # The deactivation ended every session; no token was issued since, so none to end now.
    assert user.credentials_version == store.users[user_id].credentials_version == version
    await services.authenticate(FakeUnitOfWork(store), fast_hasher, "back@example.com", PASSWORD)


async def test_activate_keeps_an_admin_an_admin(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    await services.create_admin(FakeUnitOfWork(store), fast_hasher, "boss@example.com", PASSWORD)
    await services.deactivate_user(FakeUnitOfWork(store), "boss@example.com")

    user, _ = await services.activate_user(FakeUnitOfWork(store), "boss@example.com")

    assert (user.is_active, user.role) == (True, Role.ADMIN)


async def test_activate_an_active_account_changes_nothing_and_says_so(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _customer(store, fast_hasher, "here@example.com")

    user, was_deactivated = await services.activate_user(FakeUnitOfWork(store), "here@example.com")

    assert not was_deactivated
    assert (user.is_active, user.credentials_version) == (True, 0)
    assert store.users[user_id].credentials_version == 0


async def test_activate_an_unknown_email_is_unknown_user(store: InMemoryStore) -> None:
    with pytest.raises(UnknownUser):
        await services.activate_user(FakeUnitOfWork(store), "nobody@example.com")


# --- stockroom users activate ------------------------------------------------------------------


def test_users_activate_reactivates_in_one_line(
    run: Run, container: Container, store: InMemoryStore
) -> None:
    user_id = _deactivated_customer(container, "ann@example.com")
    assert not _can_log_in(container, "ann@example.com", PASSWORD)

    result = run("users", "activate", "ann@example.com")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"activated ann@example.com (id {user_id})\n"
    assert store.users[user_id].role is Role.CUSTOMER
    assert _can_log_in(container, "ann@example.com", PASSWORD)


def test_users_activate_an_active_account_says_it_already_was(
    run: Run, container: Container
) -> None:
    user_id = asyncio.run(_customer_on(container, "live@example.com"))

    result = run("users", "activate", "live@example.com")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"live@example.com (id {user_id}) was already active\n"


def test_users_activate_an_unknown_email_is_one_line_and_exit_1(run: Run) -> None:
    result = run("users", "activate", "nobody@example.com")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == "error: user does not exist\n"


# --- stockroom users reset-password ------------------------------------------------------------


def test_reset_password_of_a_deactivated_account_resets_it_and_says_it_cannot_log_in(
    container: Container, store: InMemoryStore
) -> None:
    user_id = _deactivated_customer(container, "away@example.com")
    runner = CliRunner(env={"STOCKROOM_NEW_PASSWORD": "set by the shop", "COLUMNS": "250"})

    result = runner.invoke(app, ["users", "reset-password", "away@example.com"], obj=container)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"reset the password of away@example.com (id {user_id}) (the account is deactivated: "
        "`stockroom users activate away@example.com` to let it log in)\n"
    )
    assert not store.users[user_id].is_active  # a reset never reactivates
    run_activate = runner.invoke(app, ["users", "activate", "away@example.com"], obj=container)
    assert run_activate.exit_code == 0, run_activate.output
    assert _can_log_in(container, "away@example.com", "set by the shop")


def test_reset_password_of_an_active_account_says_only_that(
    container: Container,
) -> None:
    user_id = asyncio.run(_customer_on(container, "fine@example.com"))
    runner = CliRunner(env={"STOCKROOM_NEW_PASSWORD": "set by the shop", "COLUMNS": "250"})

    result = runner.invoke(app, ["users", "reset-password", "fine@example.com"], obj=container)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"reset the password of fine@example.com (id {user_id})\n"


# --- --debug -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env"),
    [(["--debug"], {}), ([], {"STOCKROOM_DEBUG": "1"})],
    ids=["--debug", "STOCKROOM_DEBUG=1"],
)
def test_debug_keeps_the_domain_error_behind_the_one_line(
    container: Container, args: list[str], env: dict[str, str]
) -> None:
    runner = CliRunner(env={"COLUMNS": "250", "NO_COLOR": "1", **env})

    result = runner.invoke(app, [*args, "users", "activate", "nobody@example.com"], obj=container)

    # The exception itself escapes the command: the console script prints its traceback.
    assert isinstance(result.exception, UnknownUser), result.output
    assert "error: user does not exist" not in result.output


def test_without_debug_the_domain_error_is_only_its_line(run: Run) -> None:
    result = run("users", "activate", "nobody@example.com")

    assert isinstance(result.exception, SystemExit)
    assert result.stderr == "error: user does not exist\n"
