"""A replica's lag as ``ReplicaSet`` measures it, without a database: the primary's WAL position
and what the replica says of itself are stand-ins (the real ones: tests/integration/
test_replica_faults.py). Lag is the time since the newest sample of the primary's position
that the replica has replayed, so it grows by itself when the replica stops replaying."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from sqlalchemy import Executable, RowMapping
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.replicas import POSITION_NOW, Replica, ReplicaSet

MAX_LAG = 0.3  # seconds: the set's limit, short so the test takes a fraction of a second


class Primary:
    """The primary's WAL position, moved by the test."""

    def __init__(self) -> None:
        self.position = 0x100

    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any]
    ) -> list[RowMapping]:
        assert statement is POSITION_NOW
        return [cast(RowMapping, {"lsn": f"0/{self.position:X}"})]  # rows read by name


class StandInReplica(Replica):
    """What the replica answers its check with (``replayed``, ``receiving``), or ``fails``."""

    def __init__(self) -> None:
        super().__init__("replica 1", create_async_engine("postgresql+asyncpg://nobody@/none"))
        self.says = {"replayed": "0/100", "receiving": True}
        self.fails = False

    async def fetch_all(
        self, statement: Executable, parameters: Mapping[str, Any], within: float
    ) -> list[RowMapping]:
        if self.fails:
            raise TimeoutError
        return [cast(RowMapping, self.says)]


def _replicas() -> tuple[ReplicaSet, StandInReplica, Primary]:
    replica, primary = StandInReplica(), Primary()
    return ReplicaSet([replica], max_lag=MAX_LAG, wait=0.0, primary=primary), replica, primary


async def test_a_replica_that_has_replayed_the_primarys_position_is_ok() -> None:
    replicas, _, _ = _replicas()
    await replicas.check_all(within=1.0)
    assert replicas.statuses() == {"replica 1": "ok"}
    assert await replicas.choose(None) is not None


async def test_a_replica_that_stops_replaying_lags_once_max_lag_has_passed() -> None:
    replicas, _, primary = _replicas()
    await replicas.check_all(within=1.0)
    primary.position = 0x200  # a commit the replica never gets; it still reports a receiver
    await asyncio.sleep(0.2)  # a sample of the new position is taken at the next check
    await replicas.check_all(within=1.0)
    assert replicas.statuses() == {"replica 1": "ok"}  # held all, 0.2 s ago
    await asyncio.sleep(MAX_LAG)
    await replicas.check_all(within=1.0)
    assert replicas.statuses()["replica 1"].startswith("lagging ")
    assert await replicas.choose(None) is None


async def test_a_replica_without_a_wal_receiver_lags_at_once() -> None:
    replicas, replica, _ = _replicas()
    replica.says = {"replayed": "0/100", "receiving": False}  # holds all, receives nothing
    await replicas.check_all(within=1.0)
    assert replicas.statuses() == {"replica 1": "lagging: no WAL receiver"}
    assert await replicas.choose(None) is None


async def test_a_replica_whose_check_fails_is_down_until_a_check_succeeds() -> None:
    replicas, replica, _ = _replicas()
    replica.fails = True
    await replicas.check_all(within=1.0)
    assert replicas.statuses() == {"replica 1": "down"}
    assert await replicas.choose(None) is None
    replica.fails = False
    await replicas.check_all(within=1.0)
    assert replicas.statuses() == {"replica 1": "ok"}
