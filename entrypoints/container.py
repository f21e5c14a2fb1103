"""The composition root: the one place that decides which implementation backs each port."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from dependency_injector import containers, providers

from adapters.database import Database
from adapters.database_metrics import Pools
from adapters.passwords import Argon2PasswordHasher
from adapters.reads import SqlAlchemyReads
from adapters.replicas import ReplicaSet, replica_reads, replica_set
from adapters.sqlite_unit_of_work import SqliteUnitOfWork, reading_session_factory
from adapters.tokens import JwtTokenCodec
from adapters.unit_observers import unit_observer
from adapters.unit_of_work import SqlAlchemyUnitOfWork, session_factory
from domain.events import StockLow
from entrypoints.login_policy import login_throttle_policy
from entrypoints.secret_key import development_key_path, load_or_create_key
from entrypoints.settings import Settings
from entrypoints.tracing import traces_exported
from service_layer import handlers
from service_layer.messagebus import MessageBus
from service_layer.ports import PasswordHasher
from service_layer.reads import AbstractReads
from service_layer.services.logins import LoginThrottle

log = logging.getLogger(__name__)


def _database(settings: Settings) -> Database:
    return Database(
        settings.database_url,
        pool=settings.pool,
        pooler=settings.database_pooler,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        echo=settings.echo_sql,
    )


def _replicas(settings: Settings, database: Database) -> ReplicaSet | None:
    """Streaming replicas for the read port, only when some are configured; the primary
    serves what they cannot, and its WAL position is what their lag is measured against."""
    if not settings.replica_urls:
        return None
    return replica_set(
        settings.replica_urls,
        settings.pool,
        settings.database_pooler,
        settings.echo_sql,
        max_lag=settings.replica_max_lag,
        wait=settings.replica_wait,
        primary=database.reader,
    )


def _reads(database: Database, replicas: ReplicaSet | None) -> SqlAlchemyReads:
    if replicas is None:
        return SqlAlchemyReads(database.reader)
    return replica_reads(replicas)


def _pools(database: Database, replicas: ReplicaSet | None) -> Pools:
    return Pools(database.engines() | (replicas.engines() if replicas else {}))


def _token_codec(settings: Settings) -> JwtTokenCodec:
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
    else:
        path = development_key_path(settings.database_url)
        secret = load_or_create_key(path)
        # Once per process, and the app builds its codec at start-up (its lifespan).
        log.warning(
            "STOCKROOM_SECRET_KEY is not set: tokens are signed with the development key in %s. "
            "Set STOCKROOM_SECRET_KEY (and STOCKROOM_PRODUCTION=true) in production.",
            path,
        )
    return JwtTokenCodec(secret, timedelta(minutes=settings.token_lifetime_minutes))


def _message_bus() -> MessageBus:
    """Every in-process handler, by the event type it handles and the name the handling table
    records its calls under (keep a name once it is in use)."""
    return MessageBus({StockLow.type: {"low_stock_alert": handlers.alert_low_stock}})


class Container(containers.DeclarativeContainer):
    """Shared by the API, the CLI and the tests.

    - ``database``: a Singleton, one set of engines and pools per process; ``running`` below
      is where its life ends.
    - ``uow``: a fresh unit of work at every call, which owns its session; SQLite's units
      take turns for the one write lock, so the database's dialect picks the class.
    - ``reads``: a Singleton; each call of the read port takes a connection and gives it
      back. With replicas configured, and only then, it may read from them.
    - ``unit_observer``: what watches every unit (metrics, traces), ``None`` when nothing does.
    - ``message_bus``: the handlers of domain events, run after commit from the outbox by the
      dispatcher (``service_layer/messagebus.py``; ``serve`` runs it in each worker).

    Tests swap storage with ``container.uow.override(providers.Factory(FakeUnitOfWork, ...))``
    and ``container.reads.override(...)`` (``tests/fakes``).
    """

    settings: providers.Provider[Settings] = providers.Singleton(Settings)
    database: providers.Provider[Database] = providers.Singleton(_database, settings=settings)
    replicas: providers.Provider[ReplicaSet | None] = providers.Singleton(
        _replicas, settings=settings, database=database
    )
    unit_observer = providers.Singleton(
        unit_observer,
        metrics=settings.provided.metrics_enabled,
        warn_after=settings.provided.held_unit_warning,
        traces=providers.Callable(traces_exported),
    )
    sessions = providers.Singleton(session_factory, database.provided.engine)
    reading_sessions = providers.Singleton(reading_session_factory, database.provided.engine)
    message_bus: providers.Provider[MessageBus] = providers.Singleton(_message_bus)
    # Rows of event types no handler takes are written dispatched (the dispatcher skips them).
    handled_event_types = message_bus.provided.event_types
    uow = providers.Selector(
        database.provided.dialect,
        postgresql=providers.Factory(
            SqlAlchemyUnitOfWork,
            sessions,
            observer=unit_observer,
            handled_event_types=handled_event_types,
        ),
        sqlite=providers.Factory(
            SqliteUnitOfWork,
            sessions,
            reading_sessions,
            turns=database.provided.writer_queue,
            observer=unit_observer,
            handled_event_types=handled_event_types,
        ),
    )
    reads: providers.Provider[AbstractReads] = providers.Singleton(
        _reads, database=database, replicas=replicas
    )
    # Pool gauges, asked for by the app only when metrics are on (entrypoints/api/app.py).
    pools: providers.Provider[Pools] = providers.Singleton(
        _pools, database=database, replicas=replicas
    )
    password_hasher: providers.Provider[PasswordHasher] = providers.Singleton(
        Argon2PasswordHasher, max_in_flight=settings.provided.max_concurrent_hashes
    )
    login_throttle: providers.Provider[LoginThrottle] = providers.Singleton(
        LoginThrottle, policy=providers.Callable(login_throttle_policy, settings)
    )
    token_codec: providers.Provider[JwtTokenCodec] = providers.Singleton(
        _token_codec, settings=settings
    )


def build_container(settings: Settings | None = None) -> Container:
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container


@asynccontextmanager
async def running(container: Container) -> AsyncIterator[Container]:
    """The database's life, for the app (its lifespan) and for each CLI command: engines and
    pools are built on first use, and every pooled connection is closed when the block ends.

    Not a dependency-injector ``Resource``: an async one turns every provider that depends on
    it async, so ``container.uow()`` would hand out an awaitable.
    """
    try:
        yield container
    finally:
        await dispose(container)


async def dispose(container: Container) -> None:
    """Close the pools: every connection they hold is closed, checked-in ones at once."""
    replicas = container.replicas()
    if replicas is not None:
        await replicas.dispose()
    await container.database().dispose()
