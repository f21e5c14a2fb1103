"""``/health``: what a load balancer or an orchestrator polls.

Public (no token), and cheap enough to poll every second: liveness touches nothing, readiness
is one round trip on the read path (no unit of work, no transaction).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from entrypoints.api.dependencies import Replicas, TheDatabase
from entrypoints.api.drain import Drain
from entrypoints.api.response_models import ErrorOut, LiveOut, ReadyOut
from service_layer.errors import DatabaseUnavailable

log = logging.getLogger(__name__)
router = APIRouter(prefix="/health", tags=["health"])

# No longer than the interval of a probe polling every second, so pings never pile up in a
# worker, and as long as Kubernetes' default probe timeout (1 s).
READY_WITHIN_SECONDS = 1.0
SHUTTING_DOWN = "shutting down"
TOO_SLOW = f"the database did not answer within {READY_WITHIN_SECONDS} s"
UNREACHABLE = "the database is unreachable"

Responses = dict[int | str, dict[str, Any]]
NOT_READY: Responses = {
    503: {
        "model": ErrorOut,
        "description": "Not ready: shutting down, or the database (or the pooler in front of "
        "it) is unreachable or too slow. The detail says which.",
    }
}


@router.get("/live", summary="Liveness: the process is up")
async def live() -> LiveOut:
    """Answers for as long as the worker's event loop runs. It touches no database, so a
    database outage never gets a healthy process restarted."""
    return LiveOut()


@router.get("/ready", summary="Readiness: this worker can take traffic", responses=NOT_READY)
async def ready(request: Request, database: TheDatabase, replicas: Replicas) -> ReadyOut:
    """200 once the database answered one query within the readiness timeout; 503 from the
    moment the worker is told to shut down (``entrypoints/api/drain.py``)."""
    drain: Drain = request.app.state.drain
    if drain.began:
        raise _not_ready(SHUTTING_DOWN)
    try:
        # Replicas are asked at the same time; their state never fails readiness, since
        # the primary serves every read they cannot.
        await asyncio.gather(
            database.ping(within=READY_WITHIN_SECONDS),
            replicas.check_all(within=READY_WITHIN_SECONDS) if replicas else asyncio.sleep(0),
        )
    except DatabaseUnavailable as error:
        # The body says which kind of failure; the driver's words (hosts, ports) go to the
        # log only, since this endpoint is public.
        log.warning("not ready: %s", error)
        slow = isinstance(error.__cause__, TimeoutError)
        raise _not_ready(TOO_SLOW if slow else UNREACHABLE) from error
    if drain.began:  # it began during the round trip: the answer is as of now
        raise _not_ready(SHUTTING_DOWN)
    states = replicas.statuses() if replicas else {}
    degraded = any(state != "ok" for state in states.values())
    return ReadyOut(status="degraded" if degraded else "ready", replicas=states)


def _not_ready(reason: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_503_SERVICE_UNAVAILABLE, detail=reason)
