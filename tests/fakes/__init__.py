"""In-memory stand-ins for the storage ports, for tests only: a fake unit of work, its
repositories and the read port, all over one ``InMemoryStore``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dependency_injector import providers

from entrypoints.container import Container
from tests.fakes.reads import InMemoryReads
from tests.fakes.repositories import InMemoryStore
from tests.fakes.unit_of_work import FakeUnitOfWork

__all__ = ["FakeUnitOfWork", "InMemoryReads", "InMemoryStore", "use_fakes"]


@contextmanager
def use_fakes(container: Container, store: InMemoryStore) -> Iterator[InMemoryStore]:
    """Units of work and reads of ``container`` work on ``store`` while the block runs."""
    with (
        container.uow.override(providers.Factory(FakeUnitOfWork, store=store)),
        container.reads.override(providers.Object(InMemoryReads(store))),
    ):
        yield store
