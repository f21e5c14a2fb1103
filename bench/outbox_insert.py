"""``python -m bench.outbox_insert``: where the outbox's cost in a purchase goes, in-process.

``place_order`` in a loop on a fresh database (the real unit of work, no HTTP, no dispatcher),
one purchase at a time, three arms taking turns in the same run:

- **as it ships**: the unit builds the outbox row and INSERTs it in the purchase's transaction;
- **row, no INSERT**: the same, with the INSERT skipped (``SqlAlchemyOutbox.add`` builds the
  rows and sends nothing): what building the event's row and the early flush cost;
- **no outbox**: the unit finds no events (``bench/no_outbox.py``, as ``bench/events_serve.py``
  serves it).

Printed: microseconds a purchase (wall clock and this process's CPU, medians of the rounds)
and each arm's purchases a second against no outbox (bench/README.md, "Events").
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

from adapters.outbox import SqlAlchemyOutbox, to_json
from bench.cases import PG, SQLITE
from bench.events_drain import throwaway_database
from bench.no_outbox import no_events
from domain.order import LineRequest
from entrypoints.container import build_container, dispose
from entrypoints.settings import Settings
from service_layer.actor import Actor
from service_layer.outbox import OutboxMessage
from service_layer.services import items, orders, users
from service_layer.unit_of_work import AbstractUnitOfWork

SHIPPED, ROW_ONLY, NONE = "as it ships", "row, no INSERT", "no outbox"
SKUS = 50


async def _rows_only(_: SqlAlchemyOutbox, messages: Sequence[OutboxMessage]) -> None:
    for message in messages:  # the row's values, as add() builds them, then nothing sent
        to_json(message.data)


def _arm(name: str) -> None:
    """Switch the unit of work to ``name``'s behaviour (class attributes, this process only)."""
    SqlAlchemyOutbox.add = _rows_only if name == ROW_ONLY else _SHIPPED_ADD  # type: ignore[method-assign,assignment]
    AbstractUnitOfWork._recorded_events = (  # type: ignore[method-assign]
        no_events if name == NONE else _SHIPPED_EVENTS
    )


_SHIPPED_ADD = SqlAlchemyOutbox.add
_SHIPPED_EVENTS = AbstractUnitOfWork._recorded_events


async def _measure(url: str, purchases: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    container = build_container(Settings(database_url=url, secret_key=secrets.token_hex(32)))
    try:
        for n in range(SKUS):
            new = items.NewItem(f"Item {n}", f"SKU-{n:03d}", price=Decimal("9.99"), quantity=10**8)
            await items.add_item(container.uow(), new)
        user = await users.register(
            container.uow(), container.password_hasher(), "buyer@example.com", "a long password"
        )
        actor = Actor(user.id)

        async def buy(count: int) -> None:
            for n in range(count):
                line = LineRequest(f"SKU-{n % SKUS:03d}", 1)
                await orders.place_order(container.uow(), actor, [line])

        await buy(purchases)  # warm-up: pools, prepared statements, caches
        results: dict[str, list[tuple[float, float]]] = {SHIPPED: [], ROW_ONLY: [], NONE: []}
        arms = list(results)
        for turn in range(rounds):
            for name in arms[turn % 3 :] + arms[: turn % 3]:  # the order rotates every round
                _arm(name)
                wall, cpu = time.perf_counter(), time.process_time()
                await buy(purchases)
                results[name].append(
                    (
                        (time.perf_counter() - wall) / purchases * 1e6,
                        (time.process_time() - cpu) / purchases * 1e6,
                    )
                )
        return results
    finally:
        _arm(SHIPPED)
        await dispose(container)


def _report(database: str, results: dict[str, list[tuple[float, float]]]) -> list[str]:
    def wall(name: str) -> float:
        return median(w for w, _ in results[name])

    lines = []
    for name, rounds in results.items():
        lines.append(
            f"{database:6} {name:15} {wall(name):7.0f} us a purchase (CPU here "
            f"{median(c for _, c in rounds):5.0f} us); purchases/s vs no outbox "
            f"{wall(NONE) / wall(name):.2f}x"
        )
    return lines


def main(argv: Sequence[str] | None = None, run: Callable[..., Any] = asyncio.run) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.outbox_insert", description=__doc__)
    parser.add_argument("--purchases", type=int, default=500, help="per arm and round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--database", action="append", choices=[PG, SQLITE])
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-") as workdir:
        for database in args.database or [PG, SQLITE]:
            with throwaway_database(database, Path(workdir)) as url:
                results = run(_measure(url, args.purchases, args.rounds))
            print("\n".join(_report(database, results)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
