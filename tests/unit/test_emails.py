"""Issue 26 F11: look-alike addresses. A fullwidth ``admin@`` folds (NFKC) into ``admin@``, so
registering it is a 409 (the CLI: the account exists); one mixing a Cyrillic ``a`` into Latin
letters is refused (UTS #39, one script per local part). Accounts stored before the rule log
in still: tests/integration/test_look_alike_emails.py."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from domain.emails import check_single_script, legacy_email_form, normalise_email
from domain.errors import InvalidValue
from entrypoints.cli import app
from entrypoints.container import Container
from tests.api_support import new_password
from tests.fakes import InMemoryStore

FULLWIDTH_A = "\uff41"  # FULLWIDTH LATIN SMALL LETTER A
CYRILLIC_A = "\u0430"  # CYRILLIC SMALL LETTER A
FULLWIDTH_ADMIN = f"{FULLWIDTH_A}dmin@example.com"
CYRILLIC_ADMIN = f"{CYRILLIC_A}dmin@example.com"


def test_compatibility_forms_fold_into_the_plain_address() -> None:
    assert normalise_email(FULLWIDTH_ADMIN) == "admin@example.com"
    assert normalise_email("\uff21DMIN\uff20example.com") == "admin@example.com"  # fullwidth @
    assert normalise_email("Admin@EXAMPLE.com") == "admin@example.com"


@pytest.mark.parametrize(
    "email",
    [
        CYRILLIC_ADMIN,
        "p\u0430ypal@example.com",  # a Cyrillic a among Latin letters
        "\u03c1aypal@example.com",  # a Greek rho for a p
    ],
)
def test_a_local_part_mixing_scripts_is_refused(email: str) -> None:
    with pytest.raises(InvalidValue, match="must not mix scripts"):
        check_single_script(normalise_email(email))


@pytest.mark.parametrize(
    "email",
    [
        "ivan.petrov+shop2000@example.com",
        "jos\u00e9.garc\u00eda@example.com",
        "\u0438\u0432\u0430\u043d@example.com",  # all Cyrillic
        "\u5c71\u7530\u305f\u308d\u3046@example.com",  # Han and Hiragana: Japanese
        "o\u0301scar@example.com",  # a combining accent goes with any script
    ],
)
def test_a_local_part_of_one_writing_system_is_accepted(email: str) -> None:
    assert check_single_script(normalise_email(email)) == normalise_email(email)


@given(st.text(st.sampled_from(f"aA{FULLWIDTH_A}\u0130\u0307\uff21\u00df.@x-"), max_size=12))
def test_the_canonical_form_of_a_canonical_form_is_itself(text: str) -> None:
    try:
        once = normalise_email(text + "@example.com")
    except InvalidValue:
        return
    assert normalise_email(once) == once


def test_the_legacy_form_is_the_nfc_one_used_before() -> None:
    assert legacy_email_form(FULLWIDTH_ADMIN) == FULLWIDTH_ADMIN
    assert legacy_email_form("Plain@Example.com") == "plain@example.com"
    assert legacy_email_form("no-at-sign") is None


async def test_registering_a_look_alike_through_the_api_is_refused(
    client: httpx.AsyncClient, store: InMemoryStore
) -> None:
    first = await client.post(
        "/users/", json={"email": "admin@example.com", "password": new_password()}
    )
    assert first.status_code == 201, first.text

    folded = await client.post(
        "/users/", json={"email": FULLWIDTH_ADMIN, "password": new_password()}
    )
    mixed = await client.post("/users/", json={"email": CYRILLIC_ADMIN, "password": new_password()})

    assert folded.status_code == 409, folded.text
    assert mixed.status_code == 422, mixed.text
    assert "must not mix scripts" in mixed.text
    assert [user.email for user in store.users.values()] == ["admin@example.com"]


def test_create_admin_on_a_look_alike_is_refused(
    container: Container, store: InMemoryStore
) -> None:
    runner = CliRunner(env={"STOCKROOM_ADMIN_PASSWORD": new_password()})
    created = runner.invoke(app, ["users", "create-admin", "admin@example.com"], obj=container)
    assert created.exit_code == 0, created.output

    folded = runner.invoke(app, ["users", "create-admin", FULLWIDTH_ADMIN], obj=container)
    mixed = runner.invoke(app, ["users", "create-admin", CYRILLIC_ADMIN], obj=container)

    assert folded.exit_code == 1
    assert "--promote" in folded.output  # the existing account, not a new one
    assert mixed.exit_code == 1
    assert "must not mix scripts" in mixed.output
    assert [user.email for user in store.users.values()] == ["admin@example.com"]
