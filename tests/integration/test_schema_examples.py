"""The request body examples of the published schema work as Swagger's "Try it out" sends
them: unchanged, one after another in the README tour's order, on an empty database with the
admin of the README's first step, on SQLite and PostgreSQL. The bodies are read from
``app.openapi()``, never written here, so an example that drifts from the rules fails."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from entrypoints.container import Container
from tests.api_support import make_account

# Every operation that takes a body, in the order a newcomer tries them; who sends each.
ADMIN, ANYONE, ANN = "admin", "anyone", "ann"
TOUR = [
    ("POST", "/items/", ADMIN),
    ("PUT", "/items/{item_id}", ADMIN),
    ("POST", "/items/{item_id}/restock", ADMIN),
    ("POST", "/users/", ANYONE),
    ("POST", "/token", ANYONE),
    ("POST", "/orders/", ANN),
    ("POST", "/users/me/password", ANN),  # last: it ends Ann's sessions
]

Operation = tuple[str, str]


def body_examples(schema: dict[str, Any]) -> dict[Operation, tuple[str, Any]]:
    """Each operation's media type and the first example of its body's schema: what Swagger
    fills "Try it out" with."""
    found: dict[Operation, tuple[str, Any]] = {}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if "requestBody" not in operation:
                continue
            [(media_type, media)] = operation["requestBody"]["content"].items()
            name = media["schema"]["$ref"].rsplit("/", 1)[-1]
            examples = schema["components"]["schemas"][name].get("examples", [None])
            found[method.upper(), path] = (media_type, examples[0])
    return found


async def test_every_request_body_example_succeeds_in_the_tour_order(
    app: FastAPI, client: httpx.AsyncClient, container: Container
) -> None:
    examples = body_examples(app.openapi())
    assert set(examples) == {(method, path) for method, path, _ in TOUR}
    missing = [operation for operation, (_, example) in examples.items() if example is None]
    assert not missing, f"request bodies without an example: {missing}"

    admin = await make_account(container, admin=True, email="admin@example.com")
    headers = {ADMIN: admin.headers, ANYONE: {}, ANN: {}}
    item_id = None
    for method, path, who in TOUR:
        media_type, example = examples[method, path]
        body = {"json": example} if media_type == "application/json" else {"data": example}
        url = path.format(item_id=item_id)
        response = await client.request(method, url, headers=headers[who], **body)
        assert response.is_success, (method, path, example, response.status_code, response.text)
        if path == "/items/":
            item_id = response.json()["id"]
        if path == "/token":
            headers[ANN] = {"Authorization": f"Bearer {response.json()['access_token']}"}
