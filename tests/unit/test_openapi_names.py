"""The OpenAPI document is one a client generator turns into good names: explicit operation
ids (the route functions' names), named request bodies, no undocumented or unanswered
statuses on ``POST /token``, and a schema for the export's lines."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI

# Every operation's id, by method and path: a rename changes a generated client's function
# names, so it must show here.
OPERATION_IDS = {
    ("get", "/"): "root",
    ("get", "/health/live"): "live",
    ("get", "/health/ready"): "ready",
    ("get", "/health/dependencies"): "dependencies",
    ("get", "/items/"): "list_items",
    ("post", "/items/"): "create_item",
    ("get", "/items/export"): "export_items",
    ("get", "/items/{item_id}"): "get_item",
    ("put", "/items/{item_id}"): "update_item",
    ("delete", "/items/{item_id}"): "delete_item",
    ("post", "/items/{item_id}/restock"): "restock_item",
    ("post", "/users/"): "register",
    ("post", "/token"): "log_in",
    ("get", "/users/me"): "get_me",
    ("post", "/users/me/password"): "change_password",
    ("post", "/users/me/logout-all"): "log_out_everywhere",
    ("get", "/orders/"): "list_orders",
    ("post", "/orders/"): "place_order",
    ("get", "/orders/{order_id}"): "get_order",
    ("post", "/orders/{order_id}/cancel"): "cancel_order",
    ("post", "/orders/{order_id}/ship"): "ship_order",
}
# What FastAPI's default ids carry: the method and the path.
METHOD_SUFFIX = re.compile(r"_(get|post|put|delete|patch|head|options)$")
PATH_FRAGMENT = re.compile(r"items_|orders_|users_|health_|token_|__")
PLAIN_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")


@pytest.fixture(scope="module")
def document(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def _operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }


def test_every_operation_has_its_explicit_id(document: dict[str, Any]) -> None:
    ids = {key: operation["operationId"] for key, operation in _operations(document).items()}

    assert ids == OPERATION_IDS


def test_no_id_carries_a_method_or_a_path(document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for operation in _operations(document).values()]

    assert len(ids) == len(set(ids))
    assert [i for i in ids if METHOD_SUFFIX.search(i) or PATH_FRAGMENT.search(i)] == []


def test_every_component_has_a_plain_name(document: dict[str, Any]) -> None:
    names = list(document["components"]["schemas"])

    assert [name for name in names if not PLAIN_NAME.match(name)] == []
    assert not [name for name in names if name.startswith("Body")]


def test_the_token_form_is_a_named_model(document: dict[str, Any]) -> None:
    body = document["paths"]["/token"]["post"]["requestBody"]
    form = body["content"]["application/x-www-form-urlencoded"]["schema"]

    assert form == {"$ref": "#/components/schemas/TokenRequest"}
    schema = document["components"]["schemas"]["TokenRequest"]
    assert schema["required"] == ["username", "password"]
    assert schema["properties"]["password"]["format"] == "password"


def test_the_token_operation_lists_its_400_and_no_422(document: dict[str, Any]) -> None:
    responses = document["paths"]["/token"]["post"]["responses"]

    assert "422" not in responses  # a form FastAPI refuses is an OAuth 400 (token_errors.py)
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TokenErrorOut"
    }
    # Only /token: the rest of the API does answer 422.
    assert "422" in document["paths"]["/users/"]["post"]["responses"]


def test_the_export_declares_its_lines(document: dict[str, Any]) -> None:
    success = document["paths"]["/items/export"]["get"]["responses"]["200"]

    assert success["content"] == {
        "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/ItemOut"}}
    }
    assert "ItemOut" in document["components"]["schemas"]
    assert "ItemOut" in success["description"]
