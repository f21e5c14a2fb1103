"""The transient-conflict runner: the whole use case runs again, a bounded number of times,
for ``TransientConflict`` only, and every retry is counted."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import pytest

from domain.errors import OutOfStock
from domain.order import OrderStatus
from service_layer.errors import TransientConflict
from service_layer.retry import DEFAULT_POLICY, RetryPolicy, retry_transient
from service_layer.services import items as item_services
from service_layer.services import orders as order_services
from tests.factories import ItemFactory
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.unit.order_support import ConflictingCommits, add_user, counter, lines, state, stock
from tests.unit.support import item_id, seed_one

RETRIES = "stockroom_transaction_retries_total"
FAST = RetryPolicy(attempts=4, base_delay=0.0001, max_delay=0.0005)


def retries(use_case: str) -> float:
    return counter(RETRIES, {"use_case": use_case, "cause": "transient_conflict"})


@dataclass
class Flaky:
    """Conflicts on its first ``conflicts`` calls, then answers; records every call."""

    conflicts: int
    calls: list[str] = field(default_factory=list)

    async def __call__(self, argument: str) -> str:
        self.calls.append(argument)
        if len(self.calls) <= self.conflicts:
            raise TransientConflict(f"serialization failure #{len(self.calls)}")
        return f"done with {argument}"


async def test_a_use_case_that_conflicts_is_run_again_until_it_succeeds() -> None:
    flaky = Flaky(conflicts=2)

    async def flaky_use_case(argument: str) -> str:
        return await flaky(argument)

    before = retries("flaky_use_case")

    result = await retry_transient(FAST)(flaky_use_case)("x")

    assert result == "done with x"
    assert flaky.calls == ["x", "x", "x"]
    assert retries("flaky_use_case") == before + 2


async def test_a_use_case_that_succeeds_at_once_runs_once_and_counts_no_retry() -> None:
    flaky = Flaky(conflicts=0)

    async def steady_use_case(argument: str) -> str:
        return await flaky(argument)

    before = retries("steady_use_case")

    assert await retry_transient(FAST)(steady_use_case)("y") == "done with y"
    assert flaky.calls == ["y"]
    assert retries("steady_use_case") == before


async def test_the_runner_gives_up_after_the_policys_attempts_and_reraises() -> None:
    flaky = Flaky(conflicts=100)

    async def hopeless_use_case(argument: str) -> str:
        return await flaky(argument)

    before = retries("hopeless_use_case")

    with pytest.raises(TransientConflict) as raised:
        await retry_transient(FAST)(hopeless_use_case)("z")

    assert len(flaky.calls) == FAST.attempts
    assert str(raised.value) == f"serialization failure #{FAST.attempts}"
    # Retries, not attempts: the last failure is re-raised, not retried.
    assert retries("hopeless_use_case") == before + FAST.attempts - 1


async def test_a_policy_of_one_attempt_never_retries() -> None:
    flaky = Flaky(conflicts=1)

    async def single_shot(argument: str) -> str:
        return await flaky(argument)

    before = retries("single_shot")

    with pytest.raises(TransientConflict):
        await retry_transient(RetryPolicy(attempts=1))(single_shot)("once")

    assert flaky.calls == ["once"]
    assert retries("single_shot") == before


@pytest.mark.parametrize(
    "error", [ValueError("bad"), OutOfStock(["A-1"]), LookupError("gone"), RuntimeError("x")]
)
async def test_other_exceptions_are_not_retried(error: Exception) -> None:
    calls = 0

    async def failing_use_case() -> None:
        nonlocal calls
        calls += 1
        raise error

    before = retries("failing_use_case")

    with pytest.raises(type(error)) as raised:
        await retry_transient(FAST)(failing_use_case)()

    assert raised.value is error
    assert calls == 1
    assert retries("failing_use_case") == before


async def test_arguments_reach_every_attempt_unchanged() -> None:
    seen: list[tuple[int, str]] = []

    async def with_arguments(number: int, *, word: str) -> int:
        seen.append((number, word))
        if len(seen) == 1:
            raise TransientConflict("deadlock detected")
        return number * 2

    assert await retry_transient(FAST)(with_arguments)(21, word="hi") == 42
    assert seen == [(21, "hi"), (21, "hi")]


def test_the_decorated_use_case_keeps_its_name_and_docstring() -> None:
    async def documented() -> None:
        """Says what it does."""

    wrapped = retry_transient(FAST)(documented)

    assert wrapped.__name__ == "documented"
    assert wrapped.__doc__ == "Says what it does."


@dataclass(frozen=True)
class RecordingPolicy(RetryPolicy):
    """Waits not at all, and remembers which attempts it was asked to wait after."""

    asked: list[int] = field(default_factory=list)

    def delay(self, attempt: int) -> float:
        self.asked.append(attempt)
        return 0.0


async def test_the_runner_waits_between_attempts_and_not_after_the_last() -> None:
    policy = RecordingPolicy(attempts=3)
    flaky = Flaky(conflicts=10)

    async def waiting_use_case(argument: str) -> str:
        return await flaky(argument)

    with pytest.raises(TransientConflict):
        await retry_transient(policy)(waiting_use_case)("w")

    assert policy.asked == [0, 1]


@pytest.mark.parametrize("attempt", range(8))
def test_delay_is_jittered_between_zero_and_the_capped_backoff(attempt: int) -> None:
    policy = RetryPolicy(attempts=9, base_delay=0.01, max_delay=0.5)
    ceiling = min(policy.max_delay, policy.base_delay * 2**attempt)

    delays = [policy.delay(attempt) for _ in range(200)]

    assert all(0 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 1  # jitter: losers of one conflict do not retry in lockstep


def test_the_default_policy_is_bounded() -> None:
    assert DEFAULT_POLICY.attempts > 1
    worst_case = sum(
        min(DEFAULT_POLICY.max_delay, DEFAULT_POLICY.base_delay * 2**attempt)
        for attempt in range(DEFAULT_POLICY.attempts - 1)
    )
    assert worst_case < 1.0


# --- the use cases are retried whole ---------------------------------------------------------


async def test_a_runner_retries_the_whole_unit_including_the_commit(store: InMemoryStore) -> None:
    uow = ConflictingCommits(store, conflicts=2)

    @retry_transient(FAST)
    async def add_one(sku: str) -> None:
        async with uow:
            await uow.items.add(ItemFactory(sku=sku))
            await uow.commit()

    await add_one("WHOLE-1")

    assert (uow.begins, uow.commits) == (3, 1)
    assert [item.sku for item in store.items.values()] == ["WHOLE-1"]


async def test_place_order_is_retried_after_a_conflict_and_one_order_exists(
    store: InMemoryStore,
) -> None:
    await seed_one(store, sku="A-1", quantity=5, price=Decimal("2.00"))
    alice = await add_user(store)
    before = retries("place_order")
    uow = ConflictingCommits(store)

    view = await order_services.place_order(uow, alice, lines(("A-1", 2)), idempotency_key="k")

    assert (uow.begins, uow.commits) == (2, 1)
    assert list(store.orders) == [view.id]
    assert store.idempotency[(alice.user_id, "k")].order_id == view.id
    assert stock(store) == {"A-1": 3}
    assert retries("place_order") == before + 1


async def test_place_order_that_keeps_conflicting_gives_up_and_writes_nothing(
    store: InMemoryStore,
) -> None:
    await seed_one(store, sku="A-1", quantity=5)
    alice = await add_user(store)
    snapshot = state(store)
    uow = ConflictingCommits(store, conflicts=DEFAULT_POLICY.attempts)

    with pytest.raises(TransientConflict):
        await order_services.place_order(uow, alice, lines(("A-1", 2)))

    assert (uow.begins, uow.commits) == (DEFAULT_POLICY.attempts, 0)
    assert state(store) == snapshot


async def test_cancel_order_is_retried_after_a_conflict(store: InMemoryStore) -> None:
    await seed_one(store, sku="A-1", quantity=5)
    alice = await add_user(store)
    placed = await order_services.place_order(FakeUnitOfWork(store), alice, lines(("A-1", 2)))
    before = retries("cancel_order")
    uow = ConflictingCommits(store)

    view = await order_services.cancel_order(uow, alice, placed.id)

    assert view.status is OrderStatus.CANCELLED
    assert (uow.begins, uow.commits) == (2, 1)
    assert stock(store) == {"A-1": 5}  # put back once, not once per attempt
    assert retries("cancel_order") == before + 1


async def test_ship_order_is_retried_after_a_conflict(store: InMemoryStore) -> None:
    await seed_one(store, sku="A-1", quantity=5)
    alice = await add_user(store)
    placed = await order_services.place_order(FakeUnitOfWork(store), alice, lines(("A-1", 2)))
    before = retries("ship_order")
    uow = ConflictingCommits(store)

    view = await order_services.ship_order(uow, placed.id)

    assert view.status is OrderStatus.SHIPPED
    assert (uow.begins, uow.commits) == (2, 1)
    assert store.orders[placed.id].status is OrderStatus.SHIPPED
    assert retries("ship_order") == before + 1


async def test_restock_is_retried_after_a_conflict_and_adds_once(store: InMemoryStore) -> None:
    item = await seed_one(store, sku="A-1", quantity=5)
    before = retries("restock")
    uow = ConflictingCommits(store)

    view = await item_services.restock(uow, item_id(item), 3)

    assert view.quantity == 8
    assert stock(store) == {"A-1": 8}
    assert retries("restock") == before + 1
