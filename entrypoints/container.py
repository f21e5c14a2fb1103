"""The composition root: the one place that decides which implementation backs each port."""

from __future__ import annotations

from datetime import timedelta

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.database import build_engine, build_session_factory
from adapters.passwords import Argon2PasswordHasher
from adapters.tokens import JwtTokenCodec
from entrypoints.secret_key import development_key_path, load_or_create_key
from entrypoints.settings import Settings
from service_layer.ports import PasswordHasher
from service_layer.read_views import AbstractReadViews
from service_layer.sqlalchemy_read_views import SqlAlchemyReadViews
from service_layer.sqlalchemy_unit_of_work import SqlAlchemyUnitOfWork
from service_layer.unit_of_work import AbstractUnitOfWork


def _token_codec(settings: Settings) -> JwtTokenCodec:
    if settings.secret_key is not None:
        secret = settings.secret_key.get_secret_value()
    else:
        secret = load_or_create_key(development_key_path(settings.database_url))
    return JwtTokenCodec(secret, timedelta(minutes=settings.token_lifetime_minutes))


def _engine(settings: Settings) -> AsyncEngine:
    return build_engine(
        settings.database_url,
        pool=settings.pool,
        sqlite_busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        echo=settings.echo_sql,
    )


class Container(containers.DeclarativeContainer):
    """Shared by the API, the CLI and the tests.

    The engine is a Singleton (one pool per process; whoever starts the container disposes it);
    the unit of work is a Factory, so every call is a fresh unit that owns its own session.
    Tests swap the UoW with ``container.uow.override(providers.Factory(FakeUnitOfWork, ...))``.
    """

    settings: providers.Provider[Settings] = providers.Singleton(Settings)
    engine: providers.Provider[AsyncEngine] = providers.Singleton(_engine, settings=settings)
    session_factory: providers.Provider[async_sessionmaker[AsyncSession]] = providers.Singleton(
        build_session_factory, engine=engine
    )
    views: providers.Provider[AbstractReadViews] = providers.Singleton(
        SqlAlchemyReadViews, engine=engine
    )
    uow: providers.Provider[AbstractUnitOfWork] = providers.Factory(
        SqlAlchemyUnitOfWork, session_factory=session_factory, views=views
    )
    password_hasher: providers.Provider[PasswordHasher] = providers.Singleton(Argon2PasswordHasher)
    token_codec: providers.Provider[JwtTokenCodec] = providers.Singleton(
        _token_codec, settings=settings
    )


def build_container(settings: Settings | None = None) -> Container:
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container


async def dispose(container: Container) -> None:
    """Close the pool: every connection it holds is closed, checked-in ones at once."""
    await container.engine().dispose()
