"""``/health``: what a load balancer or an orchestrator polls, and what a person asks.

Public (no token), and cheap enough to poll every second: liveness and readiness do no IO;
readiness answers from the worker's last dependency check (``entrypoints/api/readiness.py``).
``/health/dependencies`` checks the database and the replicas now.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from entrypoints.api.readiness import TOO_SLOW, UNREACHABLE, Readiness
from entrypoints.api.response_models import DependenciesOut, ErrorOut, LiveOut, ReadyOut

router = APIRouter(prefix="/health", tags=["health"])

Responses = dict[int | str, dict[str, Any]]
NOT_READY: Responses = {
    503: {
        "model": ErrorOut,
        "description": "Not ready: shutting down, starting, this worker's connection pool "
        "wedged, or the database is a standby. The detail says which. A database that is "
        "unreachable or slow is not a reason (every instance shares it): readiness says "
        '"degraded" and the app answers those requests with 503 + Retry-After itself.',
    }
}
UNWELL: Responses = {
    503: {"model": ErrorOut, "description": "The database is unreachable, too slow or a standby"}
}


async def get_readiness(request: Request) -> Readiness:
    readiness: Readiness = request.app.state.readiness
    return readiness


TheReadiness = Annotated[Readiness, Depends(get_readiness)]


@router.get("/live", summary="Liveness: the process is up")
async def live() -> LiveOut:
    """Answers for as long as the worker's event loop runs. It touches no database, so a
    database outage never gets a healthy process restarted."""
    return LiveOut()


@router.get("/ready", summary="Readiness: send this worker traffic", responses=NOT_READY)
async def ready(readiness: TheReadiness) -> ReadyOut:
    """200 unless this worker should get no traffic (503 from the moment it is told to shut
    down: ``entrypoints/api/drain.py``); "degraded" when a shared dependency is unwell."""
    refusal = await readiness.refusal()
    if refusal is not None:
        raise HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=refusal)
    last = readiness.last
    return ReadyOut(
        status="degraded" if last.degraded else "ready",
        database=last.database or "unknown",
        replicas=last.replicas,
    )


@router.get("/dependencies", summary="The database and replicas, checked now", responses=UNWELL)
async def dependencies(readiness: TheReadiness) -> DependenciesOut:
    """200 when the database answers as a primary within the check's deadline; each replica's
    state either way."""
    found = await readiness.check()
    if found.database != "ok":
        detail = {"unreachable": UNREACHABLE, "slow": TOO_SLOW}.get(found.database or "")
        raise HTTPException(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=detail or await readiness.refusal() or found.database,
        )
    return DependenciesOut(database=found.database, replicas=found.replicas)
