"""``GET /``: what answers here, and where its docs and health checks are.

A newcomer's first request, and a quick check of which version a server runs. Public, like
the docs and the health checks it points to.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from entrypoints.api.response_models import ServiceLinks, ServiceOut

router = APIRouter(tags=["service"])

# The docs pages (served by fastapi-offline: see entrypoints/api/app.py).
DOCS_PATH = "/docs"
REDOC_PATH = "/redoc"


@router.get("/", summary="The service: its name, version, docs and health checks")
async def root(request: Request) -> ServiceOut:
    """Paths are relative to this server, so they hold behind any host name."""
    app = request.app
    return ServiceOut(
        name=app.title,
        version=app.version,
        links=ServiceLinks(
            docs=DOCS_PATH,
            redoc=REDOC_PATH,
            openapi=app.openapi_url,
            health_live=app.url_path_for("live"),
            health_ready=app.url_path_for("ready"),
        ),
    )
