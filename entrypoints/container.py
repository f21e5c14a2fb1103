"""The composition root: the one place that decides which implementation backs each port."""

from __future__ import annotations

import logging
from datetime import timedelta

from dependency_injector import containers, providers

from adapters.database import Database
from adapters.passwords import Argon2PasswordHasher
from adapters.reads import SqlAlchemyReads
from adapters.tokens import JwtTokenCodec
from adapters.unit_of_work import SqlAlchemyUnitOfWork
from entrypoints.secret_key import development_key_path, load_or_create_key
from entrypoints.settings import Settings
from service_layer.ports import PasswordHasher
from service_layer.reads import AbstractReads
from service_layer.services.logins import LoginThrottle
from service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger(__name__)


def _database(settings: Settings) -> Database:
    return Database(
        settings.database_url,
        pool=settings.pool,
        pooler=settings.database_pooler,
        replica_urls=settings.replica_urls,
        replica_max_lag=settings.replica_max_lag,
        replica_wait=settings.replica_wait,
        metrics=settings.metrics_enabled,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        echo=settings.echo_sql,
    )


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


def _accounts_checked_in_units(database: Database) -> bool:
    return not database.units_take_turns


class Container(containers.DeclarativeContainer):
    """Shared by the API, the CLI and the tests.

    - ``database``: a Singleton, one engine and pool per process; whoever starts the
      container disposes it (``dispose`` below).
    - ``uow``: a Factory, so every call is a fresh unit of work that owns its own session.
    - ``reads``: a Singleton; each call of the read port takes a connection and gives it back.

    Tests swap storage with ``container.uow.override(providers.Factory(FakeUnitOfWork, ...))``
    and ``container.reads.override(...)`` (``tests/fakes``).
    """

    settings: providers.Provider[Settings] = providers.Singleton(Settings)
    database: providers.Provider[Database] = providers.Singleton(_database, settings=settings)
    uow: providers.Provider[AbstractUnitOfWork] = providers.Factory(
        SqlAlchemyUnitOfWork, database=database, warn_after=settings.provided.held_unit_warning
    )
    reads: providers.Provider[AbstractReads] = providers.Singleton(
        SqlAlchemyReads, database=database
    )
    password_hasher: providers.Provider[PasswordHasher] = providers.Singleton(
        Argon2PasswordHasher, max_in_flight=settings.provided.max_concurrent_hashes
    )
    login_throttle: providers.Provider[LoginThrottle] = providers.Singleton(
        LoginThrottle, policy=settings.provided.login_throttle_policy
    )
    token_codec: providers.Provider[JwtTokenCodec] = providers.Singleton(
        _token_codec, settings=settings
    )
    # Whether a purchase checks its caller's account inside its own unit of work, on the
    # unit's connection: one pool checkout per request instead of two, and under load each
    # checkout may wait its turn (entrypoints/api/security.caller_for_unit). Not on SQLite: a
    # writing unit there holds the file's one write lock, and a statement more inside it makes
    # every other writer wait longer; its read port costs a thread hop, not a checkout.
    accounts_checked_in_units: providers.Provider[bool] = providers.Callable(
        _accounts_checked_in_units, database=database
    )


def build_container(settings: Settings | None = None) -> Container:
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container


async def dispose(container: Container) -> None:
    """Close the pools: every connection they hold is closed, checked-in ones at once."""
    await container.database().dispose()
