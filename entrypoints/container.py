"""The composition root: the one place that decides which implementation backs each port."""

from __future__ import annotations

from dependency_injector import containers, providers
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from adapters.database import build_engine, build_session_factory
from entrypoints.settings import Settings
from service_layer.sqlalchemy_unit_of_work import SqlAlchemyUnitOfWork
from service_layer.unit_of_work import AbstractUnitOfWork


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
    uow: providers.Provider[AbstractUnitOfWork] = providers.Factory(
        SqlAlchemyUnitOfWork, session_factory=session_factory
    )


def build_container(settings: Settings | None = None) -> Container:
    container = Container()
    if settings is not None:
        container.settings.override(providers.Object(settings))
    return container


async def dispose(container: Container) -> None:
    """Close the pool: every connection it holds is closed, checked-in ones at once."""
    await container.engine().dispose()
