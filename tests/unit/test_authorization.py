"""Who may call what: the authorization matrix and attacks on tokens, on the fake UoW.

The matrix is generated from the app's route table: a route added without a rule here fails
``test_every_route_has_a_rule``, so nobody ships an endpoint whose access was never decided.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from adapters.tokens import JwtTokenCodec
from entrypoints.container import Container
from service_layer.services import users as user_services
from tests.api_support import Account, new_password
from tests.conftest import TEST_SECRET_KEY
from tests.factories import item_payload
from tests.fakes import FakeUnitOfWork, InMemoryStore

PUBLIC, SIGNED_IN, ADMIN = "public", "signed-in", "admin"


@dataclass(frozen=True)
class Rule:
    access: str
    success: int  # the status a caller who is allowed in gets for the sample request


# (method, path) -> who may call it. Keep in step with the routers; the test below enforces it.
RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/"): Rule(PUBLIC, 200),
    ("GET", "/health/live"): Rule(PUBLIC, 200),
    ("GET", "/health/ready"): Rule(PUBLIC, 200),
    ("GET", "/health/dependencies"): Rule(PUBLIC, 200),
    ("GET", "/items/"): Rule(PUBLIC, 200),
    ("GET", "/items/{item_id}"): Rule(PUBLIC, 200),
    ("GET", "/items/export"): Rule(ADMIN, 200),
    ("POST", "/items/"): Rule(ADMIN, 201),
    ("PUT", "/items/{item_id}"): Rule(ADMIN, 200),
    ("DELETE", "/items/{item_id}"): Rule(ADMIN, 204),
    ("POST", "/items/{item_id}/restock"): Rule(ADMIN, 200),
    ("POST", "/users/"): Rule(PUBLIC, 201),
    ("POST", "/token"): Rule(PUBLIC, 200),
    ("GET", "/users/me"): Rule(SIGNED_IN, 200),
    ("POST", "/users/me/password"): Rule(SIGNED_IN, 200),
    ("POST", "/users/me/logout-all"): Rule(SIGNED_IN, 204),
    ("POST", "/orders/"): Rule(SIGNED_IN, 201),
    ("GET", "/orders/"): Rule(SIGNED_IN, 200),
    ("GET", "/orders/{order_id}"): Rule(SIGNED_IN, 200),
    ("POST", "/orders/{order_id}/cancel"): Rule(SIGNED_IN, 200),
    ("POST", "/orders/{order_id}/ship"): Rule(ADMIN, 200),
}


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every operation the app publishes. Read from the OpenAPI document, FastAPI's public
    route inventory (``app.routes`` now holds lazily-included routers, not the routes)."""
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }


def test_every_route_has_a_rule(app: FastAPI) -> None:
    routes = api_routes(app)
    assert routes - RULES.keys() == set(), "routes without an authorization rule"
    assert RULES.keys() - routes == set(), "rules for routes that no longer exist"


async def _sample_request(
    client: httpx.AsyncClient,
    route: tuple[str, str],
    *,
    headers: dict[str, str],
    caller: Account,
    admin: Account,
) -> httpx.Response:
    """A request that succeeds for a caller who is allowed in: fresh item, fresh body, and
    for an order route an order the caller placed (whether or not the request carries the
    caller's token)."""
    method, path = route
    created = await client.post("/items/", json=item_payload(quantity=5), headers=admin.headers)
    assert created.status_code == 201
    url = path.replace("{item_id}", str(created.json()["id"]))
    purchase = {"lines": [{"sku": created.json()["sku"], "quantity": 1}]}
    if "{order_id}" in path:
        placed = await client.post("/orders/", json=purchase, headers=caller.headers)
        assert placed.status_code == 201, placed.text
        url = url.replace("{order_id}", str(placed.json()["id"]))
    body: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    if (method, path) == ("POST", "/items/"):
        body = item_payload()
    elif (method, path) == ("PUT", "/items/{item_id}"):
        body = {"title": "Renamed"}
    elif (method, path) == ("POST", "/orders/"):
        body = purchase
    elif path.endswith("/restock"):
        body = {"quantity": 1}
    elif path == "/users/":
        body = {"email": f"new-{created.json()['id']}@example.com", "password": new_password()}
    elif path == "/token":
        data = {"username": caller.email, "password": caller.password}
    elif path == "/users/me/password":
        body = {"current_password": caller.password, "new_password": new_password()}
    return await client.request(method, url, json=body, data=data, headers=headers)


@pytest.mark.parametrize("route", sorted(RULES), ids=" ".join)
@pytest.mark.parametrize("caller", ["anonymous", "customer", "admin"])
async def test_authorization_matrix(
    client: httpx.AsyncClient,
    admin: Account,
    customer: Account,
    route: tuple[str, str],
    caller: str,
) -> None:
    rule = RULES[route]
    account = {"anonymous": customer, "customer": customer, "admin": admin}[caller]
    headers = {} if caller == "anonymous" else account.headers

    response = await _sample_request(client, route, headers=headers, caller=account, admin=admin)

    if (
        rule.access == PUBLIC
        or caller == "admin"
        or (rule.access == SIGNED_IN and caller != "anonymous")
    ):
        expected = rule.success
    elif caller == "anonymous":
        expected = 401
    else:
        expected = 403
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "not authenticated"}
    if expected == 403:
        assert response.json() == {"detail": "admins only"}


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _tampered_role(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    return f"{header}.{_b64(claims)}.{signature}"


def _unsigned(claims: dict[str, Any]) -> str:
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


def _claims(user_id: int, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "role": "admin", "iat": now, "exp": now + timedelta(hours=1)}
    return {**claims, **overrides}


async def _attack_tokens(container: Container, customer: Account, admin: Account) -> dict[str, str]:
    codec = container.token_codec()
    now = int(datetime.now(UTC).timestamp())
    return {
        "expired": codec.issue(
            admin.id, "admin", credentials_version=0, now=datetime.now(UTC) - timedelta(days=2)
        ),
        "bad signature": JwtTokenCodec("another-key-" + "x" * 40, timedelta(hours=1)).issue(
            admin.id, "admin", credentials_version=0
        ),
        "alg none": _unsigned(
            {"sub": str(admin.id), "role": "admin", "iat": now, "exp": now + 3600}
        ),
        "tampered role": _tampered_role(customer.token),
        "HS512 with our key": jwt.encode(_claims(admin.id), TEST_SECRET_KEY, algorithm="HS512"),
        "no expiry": jwt.encode(
            {"sub": str(admin.id), "role": "admin", "iat": now}, TEST_SECRET_KEY, algorithm="HS256"
        ),
        "subject not a number": jwt.encode(
            _claims(admin.id, sub="admin"), TEST_SECRET_KEY, algorithm="HS256"
        ),
        "unknown user": jwt.encode(_claims(987_654), TEST_SECRET_KEY, algorithm="HS256"),
        "garbage": "not.a.token",
        "empty bearer": "",
    }


async def test_forged_and_stale_tokens_are_all_401(
    client: httpx.AsyncClient, container: Container, customer: Account, admin: Account
) -> None:
    created = await client.post("/items/", json=item_payload(), headers=admin.headers)
    purchase = {"lines": [{"sku": created.json()["sku"], "quantity": 1}]}
    for name, token in (await _attack_tokens(container, customer, admin)).items():
        headers = {"Authorization": f"Bearer {token}"}
        # POST /orders/ checks the account inside its unit of work, not in a dependency.
        for method, path, body in [
            ("GET", "/users/me", None),
            ("POST", "/items/", item_payload()),
            ("POST", "/orders/", purchase),
        ]:
            response = await client.request(method, path, headers=headers, json=body)
            assert response.status_code == 401, (name, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
    # The genuine tokens still work, so the 401s above are about the tokens, not the setup.
    assert (await client.get("/users/me", headers=admin.headers)).status_code == 200


async def test_token_of_a_deactivated_user_is_401(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account, customer: Account
) -> None:
    assert (await client.get("/users/me", headers=admin.headers)).status_code == 200
    item = (
        await client.post("/items/", json=item_payload(quantity=5), headers=admin.headers)
    ).json()
    purchase = {"lines": [{"sku": item["sku"], "quantity": 1}]}
    await user_services.deactivate_user(FakeUnitOfWork(store), admin.email)
    await user_services.deactivate_user(FakeUnitOfWork(store), customer.email)
    response = await client.post("/items/", json=item_payload(), headers=admin.headers)
    assert response.status_code == 401
    assert list(store.items) == [item["id"]]
    # An order is refused the same way, and nothing is taken.
    response = await client.post("/orders/", json=purchase, headers=customer.headers)
    assert response.status_code == 401, response.text
    assert response.json() == {"detail": "invalid or expired token"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert store.orders == {}
    assert store.items[item["id"]].quantity == 5


async def test_token_of_a_deleted_user_is_401(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account, customer: Account
) -> None:
    item = (
        await client.post("/items/", json=item_payload(quantity=5), headers=admin.headers)
    ).json()
    del store.users[admin.id]
    del store.users[customer.id]
    assert (await client.get("/users/me", headers=admin.headers)).status_code == 401
    purchase = {"lines": [{"sku": item["sku"], "quantity": 1}]}
    response = await client.post("/orders/", json=purchase, headers=customer.headers)
    assert response.status_code == 401, response.text
    assert store.orders == {}


async def test_an_order_with_a_token_from_before_a_password_change_is_401(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account, customer: Account
) -> None:
    item = (
        await client.post("/items/", json=item_payload(quantity=5), headers=admin.headers)
    ).json()
    purchase = {"lines": [{"sku": item["sku"], "quantity": 1}]}
    assert (
        await client.post("/orders/", json=purchase, headers=customer.headers)
    ).status_code == 201
    store.users[customer.id].credentials_version += 1  # what a password change does
    response = await client.post("/orders/", json=purchase, headers=customer.headers)
    assert response.status_code == 401, response.text
    assert len(store.orders) == 1
    assert store.items[item["id"]].quantity == 4


async def test_a_demoted_admin_loses_admin_rights_with_the_same_token(
    client: httpx.AsyncClient, store: InMemoryStore, admin: Account
) -> None:
    from domain.user import Role

    store.users[admin.id].role = Role.CUSTOMER
    response = await client.post("/items/", json=item_payload(), headers=admin.headers)
    assert response.status_code == 403
