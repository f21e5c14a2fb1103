"""The outbox relay: publishes the outbox's unsent rows to the broker in position order, then
marks them published. (Each aggregate's rows always in position order; rows of different
aggregates in flight together may land out of it after a failed publish: ``relay_batch``.)
At least once: a relay that dies between the broker's acknowledgement and the mark
publishes those rows again, and the broker drops them by event id (``Nats-Msg-Id``) within
its duplicate window.

One relay at a time publishes, whatever number run: the holder of a lease (a row, renewed by
a conditional UPDATE, ``adapters.outbox_store``). Two relays each taking a batch with SKIP
LOCKED could publish one order's "placed" and "cancelled" out of order; a lease keeps one
sequence, and needs no session state, so it works through PgBouncer in transaction mode (no
advisory lock, no LISTEN). The others poll for the lease and take over once it expires.

New rows are found by polling: every ``poll_interval`` the holder asks for the first unsent
rows, an index lookup that returns nothing when there is nothing to do. That costs one short
query per interval per database (idle: one lease renewal write every half lease as well), and
at most ``poll_interval`` of delay; a busy relay does not wait between full batches.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from service_layer import relay_metrics
from service_layer.relay_ports import BrokerUnavailable, EventPublisher, OutboxRecord, RelayOutbox

log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def relay_name() -> str:
    """Who holds the lease, as an operator reads it in the table: host, pid and a nonce (a
    restarted relay with a reused pid is another holder)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    poll_interval: float = 0.1  # seconds between looks at an empty outbox
    batch_size: int = 500  # rows read, published, then marked in one go
    # Publishes awaiting the broker's acknowledgement at once, at most (``relay_batch``):
    # enough to hide the round trip, few enough that a failure leaves little to redo.
    in_flight: int = 100
    # A holder that stops renewing (killed, cut off) is replaced after this long. Every
    # relay's clock must be within a fraction of it of the others'.
    lease: timedelta = timedelta(seconds=10)
    retry_first: float = 0.5  # seconds; doubled after each failure in a row ...
    retry_max: float = 30.0  # ... up to this
    # The backlog gauges' query counts the unsent rows: once a second, not once a batch.
    measure_every: float = 1.0

    def retry_pause(self, failures: int) -> float:
        """Seconds to wait after the ``failures``-th failure in a row. The exponent stops
        growing long before the cap matters: a broker down for hours fails thousands of
        times, and 2 ** 1024 no longer fits a float."""
        return min(self.retry_first * 2.0 ** min(failures - 1, 64), self.retry_max)


class Relay:
    def __init__(
        self,
        outbox: RelayOutbox,
        publisher: EventPublisher,
        policy: RelayPolicy = RelayPolicy(),
        *,
        name: str | None = None,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self._policy = policy
        self.name = name or relay_name()
        self._clock = clock
        self._lease_until: datetime | None = None

    async def holds_lease(self) -> bool:
        """Take or renew the lease when less than half of it is left: a holder writes once
        per half lease, not once per poll."""
        now = self._clock()
        if self._lease_until is not None and now < self._lease_until - self._policy.lease / 2:
            return True
        if await self._outbox.take_lease(self.name, now, self._policy.lease):
            if self._lease_until is None:
                log.info("relay %s holds the outbox lease", self.name)
            self._lease_until = now + self._policy.lease
            return True
        self._lease_until = None
        return False

    async def relay_batch(self) -> int:
        """Publish the first unsent rows and mark them: how many were published (0: nothing
        to do, or another relay holds the lease). ``BrokerUnavailable`` after marking the rows
        published before the failure: the failed ones, and every row after the window that
        failed, stay unsent, so the next attempt starts with them and the order holds.

        Publishes go out a window at a time, the window's publishes all in flight at once
        (one round trip to the broker for the window, not one per row). Why that keeps each
        aggregate's order whatever fails: a window holds at most one row per subject (an
        aggregate, e.g. "orders/42"; a row whose subject is already in the window starts the
        next one), and the next window is sent only once every publish of this one has been
        acknowledged. So while a row is in flight no later row of its aggregate has been
        sent; if it fails, its aggregate's later rows are not sent in this batch, and the
        next attempt publishes it before them. Rows of other aggregates in its window may
        be stored and marked meanwhile; that reorders only rows of different aggregates, and
        only after a failure (rows of a window go out on one connection in position order,
        which the broker keeps)."""
        if not await self.holds_lease():
            return 0
        records = await self._outbox.unsent(self._policy.batch_size)
        published: list[int] = []
        try:
            for window in _windows(records, self._policy.in_flight):
                # A batch that outlasts half the lease renews it; one whose lease was lost
                # stops, so two relays never publish side by side for long.
                if not await self.holds_lease():
                    break
                outcomes = await asyncio.gather(
                    *(self._publisher.publish(record) for record in window),
                    return_exceptions=True,
                )
                failure: BaseException | None = None
                for record, outcome in zip(window, outcomes, strict=True):
                    if isinstance(outcome, BaseException):
                        failure = failure or outcome
                        continue
                    relay_metrics.EVENTS_PUBLISHED.labels(duplicate=str(outcome).lower()).inc()
                    published.append(record.position)
                if failure is not None:
                    raise failure
        except BrokerUnavailable:
            relay_metrics.PUBLISH_FAILURES.inc()
            raise
        finally:
            if published:
                await self._outbox.mark_published(published, self._clock())
        return len(published)

    async def measure_backlog(self) -> None:
        """Only the holder measures: one query, not one per relay; the others show 0, so
        the largest figure across processes is the holder's, never a former holder's."""
        if self._lease_until is None:
            relay_metrics.OUTBOX_BACKLOG.set(0)
            relay_metrics.OUTBOX_OLDEST_UNSENT.set(0)
            return
        now = self._clock()
        backlog = await self._outbox.backlog(now)
        relay_metrics.OUTBOX_BACKLOG.set(backlog.unsent)
        age = (now - backlog.oldest).total_seconds() if backlog.oldest else 0.0
        relay_metrics.OUTBOX_OLDEST_UNSENT.set(max(age, 0.0))

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; then give the lease up, so a successor need not wait
        for it to expire. A broker or database that fails is retried with a growing pause;
        the rows wait in the outbox meanwhile."""
        failures = 0
        loop = asyncio.get_running_loop()
        measured = float("-inf")
        try:
            while not stop.is_set():
                try:
                    published = await self.relay_batch()
                    if loop.time() - measured >= self._policy.measure_every:
                        measured = loop.time()
                        await self.measure_backlog()
                except Exception as error:
                    # Whatever failed (the broker, the database), nothing was lost: unsent
                    # rows stay unsent. Retry after a pause that grows with each failure.
                    failures += 1
                    pause = self._policy.retry_pause(failures)
                    log.warning("relay: %s; retrying in %.1f s", error, pause)
                    if isinstance(error, BrokerUnavailable):
                        # Cut off from the broker, this relay lets another one have the
                        # outbox meanwhile: one on a host that reaches the broker takes over
                        # at once instead of waiting for a lease this one would keep renewing.
                        await self._release()
                    await _sleep_unless(stop, pause)
                    continue
                failures = 0
                if published < self._policy.batch_size:  # caught up: wait for new rows
                    await _sleep_unless(stop, self._policy.poll_interval)
        finally:
            await self._release()

    async def _release(self) -> None:
        if self._lease_until is None:
            return
        self._lease_until = None
        try:
            await self._outbox.release_lease(self.name)
        except Exception as error:  # the database is down: the lease simply expires
            log.warning("relay %s could not give its lease up: %s", self.name, error)


async def purge_published(
    outbox: RelayOutbox,
    now: datetime,
    retention: timedelta,
    *,
    broker: bool = True,
    batch_size: int = 1_000,
) -> int:
    """Remove outbox rows published more than ``retention`` before ``now``, in batches of
    one short transaction each (as ``purge_expired_idempotency_keys``); how many. With no
    ``broker`` configured nothing is ever published, and rows go by when they occurred
    instead: the embedded default's outbox must not grow for ever."""
    removed = 0
    while True:
        batch = await outbox.purge_published(now - retention, batch_size, broker=broker)
        removed += batch
        if batch < batch_size:
            return removed


def _windows(records: Sequence[OutboxRecord], size: int) -> Iterator[list[OutboxRecord]]:
    """``records`` in order, cut into runs of at most ``size`` with no subject twice in one:
    what ``Relay.relay_batch`` may have in flight together."""
    window: list[OutboxRecord] = []
    subjects: set[str] = set()
    for record in records:
        if len(window) == size or record.subject in subjects:
            yield window
            window, subjects = [], set()
        window.append(record)
        subjects.add(record.subject)
    if window:
        yield window


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await stop.wait()
    except TimeoutError:
        pass
