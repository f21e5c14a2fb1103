"""What a query string may hold: the parameters the route declares, and nothing else.

FastAPI ignores a query parameter no route declares, so ``GET /items/?serach=mug`` (a typo)
or ``?status=`` on a route that has no status filter answered everything, as if no filter had
been asked for. ``refuse_unknown_query_parameters`` runs before every API route (``app.py``
includes each router with it) and answers such a request with a 422 in the API's usual form
(``errors.py``), one problem per unknown name:

    {"detail": [{"type": "extra_forbidden", "loc": ["query", "serach"],
                 "msg": "unknown query parameter; this operation takes: count, cursor, ..."}]}

No input is echoed beyond the names (issue 26): values never appear, a name is repeated only
if it is plain and at most 64 characters (``validation_problems.without_input``, as for an
unknown field of a body; others are shown as "(unknown field)"), and at most
``MAX_NAMED_PARAMETERS`` names are listed, then one problem saying how many more there were.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from entrypoints.api.token_errors import TOKEN_PATH

MAX_NAMED_PARAMETERS = 10


def query_problem(name: str, message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 about one query parameter, in the form of FastAPI's own validation problems
    (rendered without input by ``errors.py``): for what a route checks itself."""
    return RequestValidationError([{"type": kind, "loc": ("query", name), "msg": message}])


def declared_query_parameters(dependant: Dependant) -> set[str]:
    """The query parameter names a route takes: its own and its dependencies', as FastAPI
    reads them off the route's signature (``APIRoute.dependant``)."""
    names: set[str] = set()
    pending = [dependant]
    while pending:
        current = pending.pop()
        names.update(field.alias for field in current.query_params)
        pending.extend(current.dependencies)
    return names


async def refuse_unknown_query_parameters(request: Request) -> None:
    """A dependency of every API route: 422 naming each query parameter the route does not
    declare (a route that declares none takes none)."""
    if not request.scope["query_string"]:
        return  # the common case, at the cost of one lookup
    # FastAPI puts the route it matched in the scope. Its dependant holds the parameters of
    # the route and of its router's dependencies; those given at include time (this one)
    # declare no query parameters.
    route = request.scope["route"]
    assert isinstance(route, APIRoute)
    if route.path == TOKEN_PATH:
        # OAuth 2.0's token endpoint "MUST ignore unrecognized request parameters" (RFC 6749
        # 3.2): a client library may send its own extras, and must still get its token.
        return
    declared = declared_query_parameters(route.dependant)
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in declared]
    if unknown:
        raise RequestValidationError(_problems(unknown, declared))


def _problems(unknown: list[str], declared: set[str]) -> list[dict[str, Any]]:
    takes = f"takes: {', '.join(sorted(declared))}" if declared else "takes none"
    message = f"unknown query parameter; this operation {takes}"
    problems: list[dict[str, Any]] = [
        {"type": "extra_forbidden", "loc": ("query", name), "msg": message}
        for name in unknown[:MAX_NAMED_PARAMETERS]
    ]
    if len(unknown) > MAX_NAMED_PARAMETERS:
        more = len(unknown) - MAX_NAMED_PARAMETERS
        problems.append(
            {
                "type": "extra_forbidden",
                "loc": ("query",),
                "msg": f"and {more} more unknown query parameters",
            }
        )
    return problems
