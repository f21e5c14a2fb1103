"""Readiness: whether a load balancer should send this instance traffic, answered from state.

``/health/ready`` does no IO: a balancer polls every instance every second, and a probe that
waits on the database turns a database blip into every instance leaving the pool at once
(measured: a 6 s PgBouncer pause made 107 balancer 503s, while the app itself answered no
error). So each worker checks its dependencies in the background, once a second, and
readiness reads what that found:

- **not ready (503)** for what is this instance's own: it is draining (SIGTERM,
  ``drain.py``); its pool serves
  nobody while callers wait and the database answers a connection of its own (a fault of
  this process, not of the database); or its database is a standby (pointed at the wrong
  server, or the primary was demoted: every write would fail).
- **ready (200)** otherwise, ``"degraded"`` when a shared dependency is not well (the
  database unreachable or slow, a replica down or lagging): pulling every instance would not
  help, and the app answers requests that need the database itself, with 503 + Retry-After.

``/health/dependencies`` asks the dependencies now, for people and monitoring.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.database import Database
from adapters.replicas import ReplicaSet
from entrypoints.api.drain import Drain
from service_layer.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 1.0
# Callers waiting this long with nobody served, while the database answers: the pool is wedged.
WEDGED_AFTER_SECONDS = 5.0
# No longer than the interval between checks, so checks never pile up in a worker.
CHECK_WITHIN_SECONDS = 1.0
SHUTTING_DOWN = "shutting down"
POOL_WEDGED = "this worker's connection pool has served nobody while callers waited"
STANDBY = "the database is a standby (in recovery): it refuses every write"
UNREACHABLE = "the database is unreachable"
TOO_SLOW = f"the database did not answer within {CHECK_WITHIN_SECONDS} s"


@dataclass
class Dependencies:
    """What the last check found: the database ("ok", "standby", "unreachable", "slow") and
    each replica ("ok", "down", "lagging ..."). ``None`` before the first check."""

    database: str | None = None
    replicas: dict[str, str] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return self.database != "ok" or any(state != "ok" for state in self.replicas.values())


class Readiness:
    """``database`` and ``replicas``: the container's providers, asked at each check."""

    def __init__(
        self,
        drain: Drain,
        database: Callable[[], Database],
        replicas: Callable[[], ReplicaSet | None],
        *,
        wedged_after: float = WEDGED_AFTER_SECONDS,
    ) -> None:
        self.drain = drain
        self.database = database
        self.replicas = replicas
        self.wedged_after = wedged_after  # seconds callers may wait with nobody served
        self.last = Dependencies()

    async def check(self) -> Dependencies:
        """Ask the database (on a connection of its own) and the replicas, at once."""
        database, replicas = "ok", self.replicas()
        checking = replicas.check_all(CHECK_WITHIN_SECONDS) if replicas else asyncio.sleep(0)
        try:
            standby, _ = await asyncio.gather(
                self.database().standby(CHECK_WITHIN_SECONDS), checking
            )
            database = "standby" if standby else "ok"
        except DatabaseUnavailable as error:
            # The driver's words (hosts, ports) go to the log only: the endpoints are public.
            log.warning("dependency check: %s", error)
            database = "slow" if isinstance(error.__cause__, TimeoutError) else "unreachable"
        self.last = Dependencies(database, replicas.statuses() if replicas else {})
        return self.last

    async def keep_checking(self) -> None:
        """The worker's background check, for as long as its app runs (its lifespan, which
        checks once before the server accepts anything)."""
        while True:
            await asyncio.sleep(CHECK_EVERY_SECONDS)
            try:
                await self.check()
            except Exception:  # a check must never stop checking
                log.exception("dependency check failed")

    async def refusal(self) -> str | None:
        """Why this instance should get no traffic now, or ``None``. A worker serves only
        once its lifespan has checked its dependencies; an app run without one (in-process,
        in tests) checks at its first probe."""
        if self.drain.began:
            return SHUTTING_DOWN
        if self.last.database is None:
            await self.check()
        if self.last.database == "standby":
            return STANDBY
        if self.last.database == "ok" and self.database().stuck_for() > self.wedged_after:
            return POOL_WEDGED
        return None
