"""The unit of work's ``_recorded_events`` with the outbox taken out, for the bench's
"without the outbox" arms (``bench/events_serve.py`` patches it into a server's processes,
``bench/outbox_insert.py`` into its own). Importing this patches nothing."""

from domain.catalog_import import Catalog
from domain.events import Event
from domain.item import Item
from domain.order import Order
from service_layer.unit_of_work import AbstractUnitOfWork


def no_events(self: AbstractUnitOfWork) -> list[tuple[Order | Item | Catalog, Event]]:
    """The aggregates' events dropped, as the real one takes them, and none returned: so
    ``commit()`` neither flushes early for them nor inserts an outbox row."""
    for aggregate in [*self.orders.seen, *self.items.seen, *self.catalog_rows.seen]:
        aggregate.events.clear()
    return []
