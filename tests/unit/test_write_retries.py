"""Every use case that writes has the same retry policy for transient conflicts.

Each writer below runs on a unit of work whose first commit the database aborts (as
PostgreSQL does on a serialization failure or deadlock): the use case must succeed on its
second attempt, write once, and count the retry under its own name. The inventory test makes
a new use case declare which kind it is, so a writer cannot be added without this check.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from types import ModuleType

import pytest

from adapters.passwords import Argon2PasswordHasher
from domain.errors import InvalidCredentials
from service_layer.services import items as item_services
from service_layer.services import logins as login_services
from service_layer.services import maintenance as maintenance_services
from service_layer.services import orders as order_services
from service_layer.services import password_changes
from service_layer.services import sign_ups as sign_up_services
from service_layer.services import stock as stock_services
from service_layer.services import users as user_services
from service_layer.services.logins import LoginThrottle
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.order_support import ConflictingCommits, add_user, counter, lines
from tests.unit.support import item_id, new_item, seed_one

PASSWORD = "a long enough password"
RETRIES = "stockroom_transaction_retries_total"


@dataclass(frozen=True)
class Writer:
    """How to call one writing use case on ``uow``, after setting up ``store``."""

    name: str  # as the retry counter labels it
    call: Callable[[InMemoryStore, FakeUnitOfWork], Awaitable[object]]
    reads_before: int = 0  # units the use case opens on ``uow`` before the one that writes


async def _add_item(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await item_services.add_item(uow, new_item(sku="retried-1"))


async def _update_item(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    item = await seed_one(store)
    changes = item_services.ItemChanges(title="Renamed")
    return await item_services.update_item(uow, item_id(item), changes)


async def _delete_item(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await item_services.delete_item(uow, item_id(await seed_one(store)))


async def _restock(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await item_services.restock(uow, item_id(await seed_one(store)), 2)


async def _reprice_by_sku(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    item = await seed_one(store, sku="RP-RETRY", price=Decimal("1.00"))
    return await item_services.reprice_by_sku(uow, item.sku, Decimal("2.00"))


async def _place_order(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    await seed_one(store, sku="R-1", quantity=5)
    return await order_services.place_order(uow, await add_user(store), lines(("R-1", 1)))


async def _cancel_order(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    await seed_one(store, sku="R-1", quantity=5)
    buyer = await add_user(store)
    placed = await order_services.place_order(FakeUnitOfWork(store), buyer, lines(("R-1", 1)))
    return await order_services.cancel_order(uow, buyer, placed.id)


async def _ship_order(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    await seed_one(store, sku="R-1", quantity=5)
    buyer = await add_user(store)
    placed = await order_services.place_order(FakeUnitOfWork(store), buyer, lines(("R-1", 1)))
    return await order_services.ship_order(uow, placed.id)


async def _purge_expired_keys(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await maintenance_services.purge_expired_idempotency_keys(uow, datetime.now(UTC))


async def _purge_handler_calls(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await maintenance_services.purge_finished_handler_calls(uow, datetime.now(UTC))


CHEAP = Argon2PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
STRONGER = Argon2PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)


async def _register(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await user_services.register(uow, CHEAP, "new@example.com", PASSWORD)


async def _create_admin(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await user_services.create_admin(uow, CHEAP, "boss@example.com", PASSWORD)


async def _deactivate_user(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    user_id = (await add_user(store)).user_id
    return await user_services.deactivate_user(uow, store.users[user_id].email)


async def _activate_user(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    user_id = (await add_user(store)).user_id
    store.users[user_id].is_active = False
    return await user_services.activate_user(uow, store.users[user_id].email)


async def _create_admin_promoting(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    await add_user(store)
    (email,) = (user.email for user in store.users.values())
    return await user_services.create_admin(uow, CHEAP, email, PASSWORD, promote=True)


async def _change_password(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    user = await user_services.register(FakeUnitOfWork(store), CHEAP, "pw@example.com", PASSWORD)
    return await user_services.change_password(uow, CHEAP, user.id, PASSWORD, "another password")


async def _log_out_everywhere(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    return await user_services.log_out_everywhere(uow, (await add_user(store)).user_id)


async def _reset_password(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    await user_services.register(FakeUnitOfWork(store), CHEAP, "lost@example.com", PASSWORD)
    return await user_services.reset_password(uow, CHEAP, "lost@example.com", "another password")


async def _authenticate_with_rehash(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    """A login whose hash was made with weaker parameters writes the upgraded hash."""
    await user_services.register(FakeUnitOfWork(store), CHEAP, "old@example.com", PASSWORD)
    return await user_services.authenticate(uow, STRONGER, "old@example.com", PASSWORD)


async def _log_in_wrong(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    """A failed login counts the failure."""
    await user_services.register(FakeUnitOfWork(store), CHEAP, "guess@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials):
        await login_services.log_in(
            uow, CHEAP, LoginThrottle(), "guess@example.com", "wrong password", "192.0.2.1"
        )
    return None


async def _log_in_after_a_failure(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    """A login that succeeds after a failure from the same address clears that failure (and
    marks the address a known client of the account)."""
    await _log_in_wrong(store, FakeUnitOfWork(store))
    return await login_services.log_in(
        uow, CHEAP, LoginThrottle(), "guess@example.com", PASSWORD, "192.0.2.1"
    )


async def _count_sign_up(store: InMemoryStore, uow: FakeUnitOfWork) -> object:
    """A sign-up is counted against its address before anything is hashed."""
    return await sign_up_services._count_sign_up(uow, LoginThrottle(), "192.0.2.1")


WRITERS = [
    Writer("add_item", _add_item),
    Writer("update_item", _update_item),
    Writer("delete_item", _delete_item),
    Writer("restock", _restock),
    Writer("reprice_by_sku", _reprice_by_sku),
    Writer("place_order", _place_order),
    Writer("cancel_order", _cancel_order),
    Writer("ship_order", _ship_order),
    Writer("register", _register),
    Writer("create_admin", _create_admin),
    Writer("deactivate_user", _deactivate_user),
    Writer("activate_user", _activate_user),
    Writer("create_admin", _create_admin_promoting),
    Writer("_store_new_password", _change_password, reads_before=1),
    Writer("log_out_everywhere", _log_out_everywhere),
    Writer("reset_password", _reset_password),
    Writer("_upgrade_hash", _authenticate_with_rehash, reads_before=1),
    # Both open a unit for the counters and one for the account before the one that writes.
    Writer("_count_failure", _log_in_wrong, reads_before=2),
    Writer("_count_success", _log_in_after_a_failure, reads_before=2),
    Writer("_count_sign_up", _count_sign_up),
    Writer("_purge_batch", _purge_expired_keys),
    Writer("_purge_handler_calls_batch", _purge_handler_calls),
]
# Use cases that never commit: reads through a unit of work or the read port.
READERS = {
    "get_item",
    "list_items",
    "export_items",
    "low_stock",
    "get_order",
    "list_orders",
    "find_orders",
    "stock_report",
    "get_user",
    "list_users",
    "get_active_user",
}
# These read (and hash), then write only through units of their own (in WRITERS), which are
# retried without hashing again: log_in also through _count_success, sign_up through
# register. The purge writes one
# unit of work per batch, each retried on its own (a retry never redoes a batch).
ENTRY_POINTS_OF_WRITERS = {
    "authenticate": "_upgrade_hash",
    "change_password": "_store_new_password",
    "log_in": "_count_failure",
    "change_own_password": "_count_failure",
    "sign_up": "_count_sign_up",
    "purge_expired_idempotency_keys": "_purge_batch",
    "purge_finished_handler_calls": "_purge_handler_calls_batch",
}
SERVICES = (
    item_services,
    order_services,
    user_services,
    login_services,
    password_changes,
    sign_up_services,
    maintenance_services,
    stock_services,
)


@pytest.mark.parametrize("writer", WRITERS, ids=lambda writer: writer.name)
async def test_a_writer_survives_one_transient_conflict_and_writes_once(
    writer: Writer, store: InMemoryStore
) -> None:
    before = counter(RETRIES, {"use_case": writer.name, "cause": "transient_conflict"})
    uow = ConflictingCommits(store, conflicts=1)

    await writer.call(store, uow)

    assert (uow.begins, uow.commits) == (writer.reads_before + 2, 1)
    after = counter(RETRIES, {"use_case": writer.name, "cause": "transient_conflict"})
    assert after == before + 1


def _use_cases(module: ModuleType) -> set[str]:
    return {
        name
        for name, function in vars(module).items()
        if not name.startswith("_")
        and getattr(function, "__module__", None) == module.__name__
        and (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function))
    }


def test_every_use_case_is_declared_a_writer_or_a_reader() -> None:
    found = set().union(*(_use_cases(module) for module in SERVICES))
    declared = {writer.name for writer in WRITERS} | READERS
    declared |= set(ENTRY_POINTS_OF_WRITERS)
    assert found - declared == set(), "a new use case: add it to WRITERS or READERS"
    private = {writer.name for writer in WRITERS if writer.name.startswith("_")}
    assert found | private >= declared, "a declared use case no longer exists"
