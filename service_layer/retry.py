"""Run a whole unit of work again when the database aborted it to resolve a conflict.

Retrying is only safe around the *entire* use case: the unit is opened afresh, everything is
read again under new locks, and the commit is part of what is retried. Re-running half a block
would act on data the aborted transaction read.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from opentelemetry import trace

from service_layer.errors import TransientConflict
from service_layer.metrics import TRANSACTION_RETRIES

log = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.005
    max_delay: float = 0.25

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs at least one attempt")

    def delay(self, attempt: int) -> float:
        """Full jitter: concurrent losers of one conflict spread out instead of colliding again."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))  # noqa: S311


DEFAULT_POLICY = RetryPolicy()


def retry_transient(
    policy: RetryPolicy = DEFAULT_POLICY,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate a use case so a ``TransientConflict`` re-runs all of it, up to a bound."""

    def decorate(use_case: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        @functools.wraps(use_case)
        async def run(*args: P.args, **kwargs: P.kwargs) -> T:
            for attempt in range(policy.attempts):
                try:
                    return await use_case(*args, **kwargs)
                except TransientConflict as conflict:
                    if attempt == policy.attempts - 1:
                        raise
                    TRANSACTION_RETRIES.labels(use_case.__name__, "transient_conflict").inc()
                    trace.get_current_span().add_event(
                        "retry", {"attempt": attempt + 1, "cause": "transient_conflict"}
                    )
                    log.warning(
                        "%s: transient conflict (attempt %d of %d), retrying: %s",
                        use_case.__name__,
                        attempt + 1,
                        policy.attempts,
                        conflict,
                    )
                    await asyncio.sleep(policy.delay(attempt))
            raise AssertionError("unreachable")  # pragma: no cover

        return run

    return decorate
