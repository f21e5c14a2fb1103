"""A database stand-in for the unit suite's container: the health checks only ever ask it
whether it answers (and is a standby), and the app's lifespan and every CLI command dispose
it (counted here).

Not a real, never-connected ``Database``: building one calls ``start_mappers()``, which
instruments ``Item`` for the rest of the process, and items the fake stored before that can no
longer be changed (an AttributeError from SQLAlchemy), so the outcome of a test would depend on
which test ran first.
"""

from __future__ import annotations

from collections.abc import Callable

from service_layer.errors import DatabaseUnavailable


class StandInDatabase:
    """Answers pings as told, keeping the ``within`` of each. ``Database.ping``'s contract:
    an answer, or ``DatabaseUnavailable`` (raised from a ``TimeoutError`` when the answer
    would come later than ``within``)."""

    def __init__(
        self,
        *,
        answers_after: float = 0.0,
        unreachable: bool = False,
        while_pinging: Callable[[], None] | None = None,
    ) -> None:
        self.answers_after = answers_after
        self.unreachable = unreachable
        self.while_pinging = while_pinging
        self.pings: list[float] = []
        self.is_standby = False
        self.stuck = 0.0  # seconds its pool has served nobody while callers waited
        self.reader = None  # what the consistency tokens would ask for a position: not used
        self.disposals = 0

    async def ping(self, within: float) -> None:
        self.pings.append(within)
        if self.while_pinging is not None:
            self.while_pinging()
        if self.unreachable:
            raise DatabaseUnavailable(
                "cannot connect to the database: [Errno 111] Connect call failed ('10.1.2.3', 6432)"
            )
        if self.answers_after > within:
            # What the real ping raises once ``within`` has passed, without spending it here.
            raise DatabaseUnavailable(f"no answer from the database in {within} s") from (
                TimeoutError()
            )

    async def standby(self, within: float) -> bool:
        """``Database.standby``'s contract: the answer, after the same failures as a ping."""
        await self.ping(within)
        return self.is_standby

    def stuck_for(self) -> float:
        return self.stuck

    def engines(self) -> dict[str, object]:
        return {}  # no pools to watch

    async def dispose(self) -> None:
        self.disposals += 1


class StandInReplicas:
    """Replicas in the states given (``ReplicaSet``'s readiness contract: check, then say)."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states
        self.checks: list[float] = []

    async def check_all(self, within: float) -> None:
        self.checks.append(within)

    def statuses(self) -> dict[str, str]:
        return self.states

    def engines(self) -> dict[str, object]:
        return {}

    async def dispose(self) -> None:
        pass
