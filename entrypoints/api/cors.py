"""Cross-origin calls from browser pages (``STOCKROOM_CORS_ORIGINS``), with Starlette's
``CORSMiddleware``; with no origins set there is no layer at all.

Credentials are bearer tokens a page sends itself, never cookies, so no credentialed CORS:
``Access-Control-Allow-Credentials`` is never sent, and ``*`` (any origin) is safe to allow for
a public API, since a browser attaches nothing on its own (Fetch standard, "CORS protocol and
credentials"; OWASP HTML5 Security Cheat Sheet, CORS).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from entrypoints.api.consistency import HEADER as CONSISTENCY_HEADER
from entrypoints.api.request_id import HEADER as REQUEST_ID_HEADER
from entrypoints.api.routers.orders import REPLAYED_HEADER

# What a page must read from answers: a browser hides every other non-safelisted header.
EXPOSED_HEADERS = (
    CONSISTENCY_HEADER,
    REQUEST_ID_HEADER,
    "Retry-After",
    REPLAYED_HEADER,
    "Link",
    "X-Total-Count",
)
# What a page may send besides the safelisted headers.
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    CONSISTENCY_HEADER,
    REQUEST_ID_HEADER,
)
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE")
PREFLIGHT_MAX_AGE = 600  # seconds a browser may keep a preflight's answer


def allow_cross_origin(app: FastAPI, origins: list[str]) -> None:
    """Added last, so outermost: a preflight is answered before any other layer sees it."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=ALLOWED_METHODS,
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE,
    )
