"""``stockroom users`` as an operator runs it, in its own process on SQLite and PostgreSQL:
deactivate, reset the password of the deactivated account (which says it cannot log in), and
activate it again; and ``--debug``, which prints the traceback behind a one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.passwords import Argon2PasswordHasher
from service_layer.services import users as services
from tests.integration.cli_support import Target, stockroom
from tests.integration.units import unit_of_work

EMAIL = "lapsed@example.com"


async def test_deactivate_reset_then_activate_on_a_real_database(
    target: Target, fast_hasher: Argon2PasswordHasher
) -> None:
    customer = await services.register(
        unit_of_work(target.database), fast_hasher, EMAIL, "the first password"
    )

    deactivated = stockroom("users", "deactivate", EMAIL, url=target.url)
    reset = stockroom(
        "users", "reset-password", EMAIL, url=target.url, new_password="set by the shop"
    )
    activated = stockroom("users", "activate", EMAIL, url=target.url)
    again = stockroom("users", "activate", EMAIL, url=target.url)

    for result in (deactivated, reset, activated, again):
        assert result.returncode == 0, result.stderr
    assert reset.stdout == (
        f"reset the password of {EMAIL} (id {customer.id}) (the account is deactivated: "
        f"`stockroom users activate {EMAIL}` to let it log in)\n"
    )
    assert activated.stdout == f"activated {EMAIL} (id {customer.id})\n"
    assert again.stdout == f"{EMAIL} (id {customer.id}) was already active\n"
    user = await services.authenticate(
        unit_of_work(target.database), fast_hasher, EMAIL, "set by the shop"
    )
    assert (user.role.value, user.is_active) == ("customer", True)


def test_activate_an_unknown_email_is_one_line_and_exit_1(target: Target) -> None:
    result = stockroom("users", "activate", "nobody@example.com", url=target.url)

    assert result.returncode == 1
    assert result.stderr == "error: user does not exist\n"


@pytest.mark.parametrize(
    ("args", "settings"),
    [(["--debug"], {}), ([], {"debug": "1"})],
    ids=["--debug", "STOCKROOM_DEBUG=1"],
)
def test_debug_prints_the_traceback_behind_a_domain_error(
    args: list[str], settings: dict[str, str], tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'debug.db'}"

    result = stockroom(*args, "items", "restock", "1", "3", url=url, **settings)

    assert result.returncode == 1
    assert "Traceback" in result.stderr, result.stderr
    assert result.stderr.rstrip().endswith("UnknownItem: item 1 does not exist"), result.stderr
