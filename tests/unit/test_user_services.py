"""Registration, login and admin provisioning on the fake unit of work."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from adapters.passwords import Argon2PasswordHasher
from domain.errors import (
    EmailTaken,
    IncorrectPassword,
    InvalidCredentials,
    InvalidValue,
    UnknownUser,
)
from domain.user import Role
from service_layer.errors import Overloaded
from service_layer.services import users as services
from tests.fakes import FakeUnitOfWork, InMemoryReads, InMemoryStore

PASSWORD = "correct horse battery"


async def _register(store: InMemoryStore, hasher: Argon2PasswordHasher, email: str) -> int:
    return (await services.register(FakeUnitOfWork(store), hasher, email, PASSWORD)).id


async def test_register_stores_a_customer_with_a_hash_not_the_password(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    uow = FakeUnitOfWork(store)
    view = await services.register(uow, fast_hasher, "  Ada@Example.COM ", PASSWORD)

    assert uow.commits == 1
    assert (view.email, view.role, view.is_active) == ("ada@example.com", Role.CUSTOMER, True)
    assert view.created_at.tzinfo is not None
    stored = store.users[view.id]
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert not hasattr(view, "password_hash")


@pytest.mark.parametrize("password", ["short", "x" * 7, "y" * 257])
async def test_register_refuses_a_password_outside_the_policy(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher, password: str
) -> None:
    uow = FakeUnitOfWork(store)
    with pytest.raises(InvalidValue):
        await services.register(uow, fast_hasher, "bob@example.com", password)
    assert (uow.commits, store.users) == (0, {})


@pytest.mark.parametrize("email", ["", "no-at-sign", "two@@example.com", "a b@example.com", "x@y"])
async def test_register_refuses_a_malformed_email(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher, email: str
) -> None:
    with pytest.raises(InvalidValue):
        await services.register(FakeUnitOfWork(store), fast_hasher, email, PASSWORD)
    assert store.users == {}


async def test_email_is_unique_case_insensitively(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    first = await _register(store, fast_hasher, "eve@example.com")
    uow = FakeUnitOfWork(store)
    with pytest.raises(EmailTaken):
        await services.register(uow, fast_hasher, "EVE@example.com", PASSWORD)
    assert uow.commits == 0
    assert list(store.users) == [first]


async def test_authenticate_with_the_right_password(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "kim@example.com")
    view = await services.authenticate(
        FakeUnitOfWork(store), fast_hasher, "KIM@example.com", PASSWORD
    )
    assert view.id == user_id


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("kim@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("not an email", PASSWORD),
        ("kim@example.com", ""),
        ("kim@example.com", "p" * 10_000),
    ],
)
async def test_wrong_credentials_all_fail_the_same_way(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher, email: str, password: str
) -> None:
    await _register(store, fast_hasher, "kim@example.com")
    with pytest.raises(InvalidCredentials) as raised:
        await services.authenticate(FakeUnitOfWork(store), fast_hasher, email, password)
    assert str(raised.value) == "incorrect email or password"


async def test_an_inactive_user_cannot_log_in(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "gone@example.com")
    issued = datetime.now(UTC)
    await services.deactivate_user(FakeUnitOfWork(store), "gone@example.com")
    with pytest.raises(InvalidCredentials):
        await services.authenticate(
            FakeUnitOfWork(store), fast_hasher, "gone@example.com", PASSWORD
        )
    store.users[user_id].credentials_version = 0  # only the deactivation refuses it
    with pytest.raises(UnknownUser):
        await services.get_active_user(
            InMemoryReads(store), user_id, credentials_version=0, issued_at=issued
        )


async def test_login_upgrades_a_hash_made_with_weaker_parameters(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "old@example.com")
    weak_hash = store.users[user_id].password_hash
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)

    uow = FakeUnitOfWork(store)
    await services.authenticate(uow, stronger, "old@example.com", PASSWORD)

    new_hash = store.users[user_id].password_hash
    assert uow.commits == 1
    assert new_hash != weak_hash
    assert not stronger.needs_rehash(new_hash)
    assert await stronger.verify(new_hash, PASSWORD)


async def test_a_login_whose_rehash_finds_no_hashing_slot_still_succeeds(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    """Under a flood of new passwords the upgrade waits for a quieter login; the login,
    already verified, is not turned into a 503."""
    user_id = await _register(store, fast_hasher, "busy@example.com")
    weak_hash = store.users[user_id].password_hash

    class BusyStronger(Argon2PasswordHasher):
        async def hash(self, password: str) -> str:
            raise Overloaded("every password hashing slot for new passwords is busy")

    busy = BusyStronger(time_cost=2, memory_cost=16, parallelism=1)
    user = await services.authenticate(FakeUnitOfWork(store), busy, "busy@example.com", PASSWORD)
    assert user.id == user_id
    assert store.users[user_id].password_hash == weak_hash  # upgraded at a later login


async def test_login_with_current_parameters_writes_nothing(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    await _register(store, fast_hasher, "same@example.com")
    uow = FakeUnitOfWork(store)
    await services.authenticate(uow, fast_hasher, "same@example.com", PASSWORD)
    assert uow.commits == 0


async def test_create_admin_creates_then_promotes_without_duplicating(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    customer_id = await _register(store, fast_hasher, "boss@example.com")
    await services.deactivate_user(FakeUnitOfWork(store), "boss@example.com")
    uow = FakeUnitOfWork(store)
    with pytest.raises(EmailTaken):  # never without being asked: see create_admin
        await services.create_admin(uow, fast_hasher, "Boss@Example.com", "a new password")
    assert (uow.commits, store.users[customer_id].role) == (0, Role.CUSTOMER)

    promoted, created = await services.create_admin(
        FakeUnitOfWork(store), fast_hasher, "Boss@Example.com", "a new password", promote=True
    )
    assert (created, promoted.id, promoted.role, promoted.is_active) == (
        False,
        customer_id,
        Role.ADMIN,
        True,
    )
    assert len(store.users) == 1
    await services.authenticate(
        FakeUnitOfWork(store), fast_hasher, "boss@example.com", "a new password"
    )

    fresh, created = await services.create_admin(
        FakeUnitOfWork(store), fast_hasher, "root@example.com", PASSWORD
    )
    assert (created, fresh.role) == (True, Role.ADMIN)
    assert len(store.users) == 2


async def test_get_user_unknown(store: InMemoryStore) -> None:
    with pytest.raises(UnknownUser):
        await services.get_user(FakeUnitOfWork(store), 42)


async def test_verify_against_no_hash_is_false_but_does_the_work(
    fast_hasher: Argon2PasswordHasher,
) -> None:
    assert await fast_hasher.verify(None, "anything") is False
    assert await fast_hasher.verify("not-a-hash", "anything") is False


async def _issued_now(store: InMemoryStore, user_id: int, *, version: int) -> object:
    return await services.get_active_user(
        InMemoryReads(store), user_id, credentials_version=version, issued_at=datetime.now(UTC)
    )


async def test_a_token_of_another_credentials_version_is_refused(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "ver@example.com")
    await _issued_now(store, user_id, version=0)
    await services.log_out_everywhere(FakeUnitOfWork(store), user_id)
    with pytest.raises(UnknownUser):
        await _issued_now(store, user_id, version=0)
    await _issued_now(store, user_id, version=1)


async def test_a_token_from_the_second_the_account_was_made_is_accepted(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    """Token times are whole seconds: 12:00:00 covers an account made at 12:00:00.7."""
    user_id = await _register(store, fast_hasher, "second@example.com")
    created = store.users[user_id].created_at
    same_second = created.replace(microsecond=0)
    await services.get_active_user(
        InMemoryReads(store), user_id, credentials_version=0, issued_at=same_second
    )
    with pytest.raises(UnknownUser):
        await services.get_active_user(
            InMemoryReads(store),
            user_id,
            credentials_version=0,
            issued_at=same_second - timedelta(seconds=1),
        )


async def test_a_stronger_rehash_at_login_logs_nobody_out(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "rehash@example.com")
    stronger = Argon2PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    await services.authenticate(FakeUnitOfWork(store), stronger, "rehash@example.com", PASSWORD)
    assert store.users[user_id].credentials_version == 0


async def test_a_rehash_never_undoes_a_password_changed_since_the_login_verified_it(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "race@example.com")
    verified = store.users[user_id].password_hash
    await services.reset_password(
        FakeUnitOfWork(store), fast_hasher, "race@example.com", "reset pw 1"
    )
    reset_hash = store.users[user_id].password_hash

    await services._upgrade_hash(FakeUnitOfWork(store), fast_hasher, user_id, verified, PASSWORD)

    assert store.users[user_id].password_hash == reset_hash


async def test_change_password_needs_the_current_one_and_ends_every_session(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "chg@example.com")
    uow = FakeUnitOfWork(store)
    with pytest.raises(IncorrectPassword):
        await services.change_password(uow, fast_hasher, user_id, "wrong password", "new password")
    with pytest.raises(IncorrectPassword):  # too long to be anyone's: refused without hashing
        await services.change_password(uow, fast_hasher, user_id, "x" * 300, "new password")
    assert (uow.commits, store.users[user_id].credentials_version) == (0, 0)

    changed = await services.change_password(uow, fast_hasher, user_id, PASSWORD, "new password")

    assert changed.credentials_version == store.users[user_id].credentials_version == 1
    await services.authenticate(
        FakeUnitOfWork(store), fast_hasher, "chg@example.com", "new password"
    )


async def test_reset_password_and_deactivate_revoke_and_never_promote(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "ops@example.com")
    reset = await services.reset_password(
        FakeUnitOfWork(store), fast_hasher, "OPS@example.com", "brand new pw"
    )
    assert (reset.role, reset.credentials_version) == (Role.CUSTOMER, 1)
    gone = await services.deactivate_user(FakeUnitOfWork(store), "ops@example.com")
    assert (gone.is_active, gone.credentials_version) == (False, 2)
    with pytest.raises(UnknownUser):
        await services.deactivate_user(FakeUnitOfWork(store), "nobody@example.com")
    assert len(store.users) == 1
    assert store.users[user_id].role is Role.CUSTOMER


async def test_promoting_an_existing_account_ends_its_sessions(
    store: InMemoryStore, fast_hasher: Argon2PasswordHasher
) -> None:
    user_id = await _register(store, fast_hasher, "squat@example.com")
    promoted, _ = await services.create_admin(
        FakeUnitOfWork(store), fast_hasher, "squat@example.com", "operator pw", promote=True
    )
    assert promoted.credentials_version > 0
    with pytest.raises(UnknownUser):
        await _issued_now(store, user_id, version=0)
