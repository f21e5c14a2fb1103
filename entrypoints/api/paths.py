"""How paths find routes: id segments that only match numbers, and what a 405 must say.

Two gaps in Starlette's routing that the OpenAPI document (and schemathesis) expose:

- ``/items/{item_id}`` matches ``/items/export`` too, so ``PUT /items/export`` reached the
  update route (a 401 or 422) instead of being a 405. Routes with an id say
  ``{item_id:signed}``: only an optionally signed run of digits reaches them.
- On a method a path does not have, Starlette answers 405 with an ``Allow`` header naming the
  methods of the *first* route it tried for that path only (``GET /items/`` and
  ``POST /items/`` are two routes), where RFC 9110 asks for every method the path has.
  ``allowed_methods`` names them all; the 405 handler in ``errors.py`` sends it.
"""

from __future__ import annotations

from fastapi import Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.routing import Match


class SignedDigitsConvertor(Convertor[str]):
    """Digits with an optional minus sign, left as text: the route's typed ``Path`` parameter
    converts and bounds them, so "-1" or a 5000-digit id is a 422 like any other bad value
    (converting here would make a 5000-digit id a ValueError, a 500)."""

    regex = "-?[0-9]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("signed", SignedDigitsConvertor())


def id_segment(name: str) -> str:
    """A path segment for an id: ``/{name:signed}``. The OpenAPI document shows ``/{name}``."""
    return f"/{{{name}:signed}}"


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """Every method some route of the app serves at this request's path, for ``Allow``.

    Asked of the routes themselves (``BaseRoute.matches`` with each method in turn), not read
    off them: FastAPI keeps included routers as nested routes, so the app's top-level routes
    are not the endpoints, and a nested router answers for its whole subtree.
    """
    allowed = [
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    ]
    return ", ".join(allowed)
