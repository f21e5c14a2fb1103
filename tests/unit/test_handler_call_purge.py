"""``purge_finished_handler_calls`` on the fakes: in-process handler calls done before the
cutoff go, in batches; pending, parked and lately done calls stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from service_layer.services.maintenance import purge_finished_handler_calls
from tests.fakes import FakeUnitOfWork, InMemoryStore
from tests.fakes.outbox import HandlingRow

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LONG_AGO, LATELY = T0 - timedelta(hours=49), T0 - timedelta(hours=47)
CUTOFF = T0 - timedelta(hours=48)


def _seed(store: InMemoryStore) -> None:
    rows = [
        HandlingRow(1, "mailer", LONG_AGO, attempts=1, done_at=LONG_AGO),
        HandlingRow(2, "mailer", LONG_AGO, attempts=2, done_at=LONG_AGO),
        HandlingRow(3, "mailer", LATELY, attempts=1, done_at=LATELY),
        HandlingRow(4, "mailer", LONG_AGO),  # pending since long ago
        HandlingRow(5, "mailer", LONG_AGO, attempts=5, parked_at=LONG_AGO, last_error="boom"),
    ]
    store.events.handling.update({(row.position, row.handler): row for row in rows})


async def test_calls_done_before_the_cutoff_go_and_the_others_stay() -> None:
    store = InMemoryStore()
    _seed(store)

    removed = await purge_finished_handler_calls(FakeUnitOfWork(store), CUTOFF)

    assert removed == 2
    assert sorted(store.events.handling) == [(3, "mailer"), (4, "mailer"), (5, "mailer")]


async def test_batches_go_on_until_a_short_one() -> None:
    store = InMemoryStore()
    _seed(store)
    uow = FakeUnitOfWork(store)

    removed = await purge_finished_handler_calls(uow, CUTOFF, batch_size=1)

    assert removed == 2
    assert uow.commits == 3  # 1 + 1 + the empty batch that says there is no more
    assert sorted(store.events.handling) == [(3, "mailer"), (4, "mailer"), (5, "mailer")]
