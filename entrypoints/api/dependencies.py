"""What routes get from the app's container, as ``Annotated`` aliases: a route names what it
needs (``uow: UnitOfWork``, ``reads: Reads``, ...) and never sees the container.

Plain FastAPI dependencies on the app's container (``app.state.container``): no wiring to
forget, no ``Provide`` marker to fail silently, and each the app's own, so the hundreds of
apps a test run builds never share one. ``async def`` only because FastAPI runs a plain
``def`` dependency in its threadpool, a hop per request that buys nothing here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from adapters.database import Database
from adapters.replicas import ReplicaSet
from adapters.tokens import JwtTokenCodec
from entrypoints.settings import Settings
from service_layer.ports import PasswordHasher
from service_layer.reads import AbstractReads
from service_layer.services.logins import LoginThrottle
from service_layer.unit_of_work import AbstractUnitOfWork


async def get_uow(request: Request) -> AbstractUnitOfWork:
    """A fresh, unopened unit of work; the service opens, commits and closes it."""
    uow: AbstractUnitOfWork = request.app.state.container.uow()
    return uow


async def get_reads(request: Request) -> AbstractReads:
    """The read port, for what only reads: no unit of work, no transaction."""
    reads: AbstractReads = request.app.state.container.reads()
    return reads


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.container.settings()
    return settings


async def get_password_hasher(request: Request) -> PasswordHasher:
    hasher: PasswordHasher = request.app.state.container.password_hasher()
    return hasher


async def get_login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.container.login_throttle()
    return throttle


async def get_token_codec(request: Request) -> JwtTokenCodec:
    codec: JwtTokenCodec = request.app.state.container.token_codec()
    return codec


async def get_database(request: Request) -> Database:
    """The engines and pools, for what checks on them (readiness)."""
    database: Database = request.app.state.container.database()
    return database


async def get_replicas(request: Request) -> ReplicaSet | None:
    replicas: ReplicaSet | None = request.app.state.container.replicas()
    return replicas


UnitOfWork = Annotated[AbstractUnitOfWork, Depends(get_uow)]
Reads = Annotated[AbstractReads, Depends(get_reads)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Hasher = Annotated[PasswordHasher, Depends(get_password_hasher)]
Throttle = Annotated[LoginThrottle, Depends(get_login_throttle)]
TokenCodec = Annotated[JwtTokenCodec, Depends(get_token_codec)]
TheDatabase = Annotated[Database, Depends(get_database)]
Replicas = Annotated[ReplicaSet | None, Depends(get_replicas)]
