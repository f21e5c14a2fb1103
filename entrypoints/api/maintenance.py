"""Housekeeping each API worker runs on a timer, for as long as its app runs."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from service_layer.services.maintenance import purge_expired_idempotency_keys
from service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)


async def purge_periodically(
    new_uow: Callable[[], AbstractUnitOfWork], ttl: timedelta, every: float
) -> None:
    """Purge idempotency keys older than ``ttl`` every ``every`` seconds, until cancelled;
    ``new_uow`` gives a fresh unit of work each time.

    Every worker of every host runs this: the purge is idempotent and takes small batches, so
    concurrent runs cost a little duplicated work and nothing else, and no one process or
    scheduler has to be the one. The first run waits a random part of the interval, so
    workers started together do not purge in step ever after. A failed run (the database is
    down, say) is logged and the next one comes at its time.
    """
    await asyncio.sleep(random.uniform(0, every))  # noqa: S311 - spreading, not secrecy
    while True:
        try:
            removed = await purge_expired_idempotency_keys(new_uow(), datetime.now(UTC), ttl=ttl)
        except Exception:
            log.exception("purging expired idempotency keys failed; next try in %s s", every)
        else:
            if removed:
                log.info("purged %d expired idempotency keys", removed)
        await asyncio.sleep(every)
