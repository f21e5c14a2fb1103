"""``python -m bench.events_serve serve ...``: ``stockroom serve`` with the transactional
outbox switched off, for the bench only (``bench/events.py``, "without the outbox").

What is off, and nothing else: the unit of work's ``commit()`` finds no recorded events, so
it neither flushes early for them nor inserts outbox rows (``service_layer/unit_of_work.py``,
``_recorded_events``). The aggregates still record their events (and they are dropped here,
as the real one takes them), the in-process dispatcher still runs in every worker's lifespan
(it finds nothing new to dispatch). The patch is made at import: uvicorn's workers are
spawned processes that import this module again as their ``__main__``, so each has it too.
"""

from bench.no_outbox import no_events
from entrypoints.cli import app
from service_layer.unit_of_work import AbstractUnitOfWork

AbstractUnitOfWork._recorded_events = no_events  # type: ignore[method-assign]

if __name__ == "__main__":
    app(prog_name="stockroom")
