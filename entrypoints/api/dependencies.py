"""FastAPI dependencies that reach into the app's container."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from entrypoints.api.consistency import read_position, remember
from entrypoints.container import Container
from service_layer.reads import AbstractReads
from service_layer.unit_of_work import AbstractUnitOfWork


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


async def get_uow(request: Request) -> AbstractUnitOfWork:
    """A fresh, unopened unit of work; the service opens, commits and closes it.

    A plain dependency on the app's container: no wiring to forget and no ``Provide`` marker
    to fail silently. It is ``async def`` only because FastAPI runs a plain ``def`` dependency
    in its threadpool, a hop per request that buys nothing here.
    """
    return remember(request, get_container(request).uow())


UnitOfWork = Annotated[AbstractUnitOfWork, Depends(get_uow)]


async def get_reads(request: Request) -> AbstractReads:
    """The read port, for routes that only read: no unit of work, no transaction. A read
    that sends a consistency token back sees every write up to it (``consistency``)."""
    return get_container(request).reads().after(read_position(request))


Reads = Annotated[AbstractReads, Depends(get_reads)]
