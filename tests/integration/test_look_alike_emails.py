"""Issue 26 F11 on SQLite and PostgreSQL: a fullwidth look-alike of an address folds into it
(the unique constraint answers: the address is taken), and accounts stored before the rule,
under the NFC form or mixing scripts, still log in with the address as they typed it: the
stored values need no migration (domain/emails.py)."""

from __future__ import annotations

import secrets

import pytest
from sqlalchemy import text

from adapters.database import Database
from adapters.passwords import Argon2PasswordHasher
from domain.errors import EmailTaken, InvalidValue
from service_layer.services import users as user_services
from tests.api_support import new_password
from tests.integration.failure_support import outside_connection
from tests.integration.units import unit_of_work

FULLWIDTH_A = "\uff41"  # FULLWIDTH LATIN SMALL LETTER A
CYRILLIC_A = "\u0430"  # CYRILLIC SMALL LETTER A


def local_part() -> str:
    return f"dmin-{secrets.token_hex(4)}"


async def test_look_alikes_of_an_existing_address_are_refused(
    database: Database, fast_hasher: Argon2PasswordHasher
) -> None:
    name = local_part()
    await user_services.register(
        unit_of_work(database), fast_hasher, f"a{name}@example.com", new_password()
    )
    with pytest.raises(EmailTaken):
        await user_services.register(
            unit_of_work(database), fast_hasher, f"{FULLWIDTH_A}{name}@example.com", new_password()
        )
    with pytest.raises(InvalidValue, match="must not mix scripts"):
        await user_services.register(
            unit_of_work(database), fast_hasher, f"{CYRILLIC_A}{name}@example.com", new_password()
        )


@pytest.mark.parametrize("first_letter", [FULLWIDTH_A, CYRILLIC_A])
async def test_an_account_stored_before_the_rule_still_logs_in(
    database: Database, fast_hasher: Argon2PasswordHasher, first_letter: str
) -> None:
    password = new_password()
    placeholder = f"placeholder-{secrets.token_hex(4)}@example.com"
    user = await user_services.register(unit_of_work(database), fast_hasher, placeholder, password)
    stored = f"{first_letter}{local_part()}@example.com"  # as registered before issue 26
    async with outside_connection(database) as connection:
        await connection.execute(
            text("UPDATE users SET email = :email WHERE id = :id"), {"email": stored, "id": user.id}
        )
        await connection.commit()

    found = await user_services.authenticate(unit_of_work(database), fast_hasher, stored, password)

    assert (found.id, found.email) == (user.id, stored)
