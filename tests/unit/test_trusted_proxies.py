"""Whose address a request comes from (issue 26, F3): X-Forwarded-For is believed only from
the proxies the operator names (STOCKROOM_TRUSTED_PROXIES, none by default), under both servers,
whatever $FORWARDED_ALLOW_IPS says (entrypoints/cli/servers.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from entrypoints.cli.servers import ServeOptions, Server, load_behind_proxies, refusal, run

OPTIONS = ServeOptions(
    host="127.0.0.1", port=8000, workers=1, graceful_timeout=15, keep_alive=5, log_config=None
)


async def bare_app(scope: object, receive: object, send: object) -> None:
    """What the factory below builds (never called)."""


def bare_app_factory() -> object:
    return bare_app


def uvicorn_options(monkeypatch: pytest.MonkeyPatch, options: ServeOptions) -> dict[str, object]:
    given: dict[str, object] = {}
    monkeypatch.setattr("uvicorn.run", lambda _app, **kwargs: given.update(kwargs))
    run(Server.uvicorn, "app:factory", options)
    return given


def test_uvicorn_trusts_no_proxy_by_default_whatever_its_variable_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn reads it when told nothing

    given = uvicorn_options(monkeypatch, OPTIONS)

    assert given["proxy_headers"] is False
    assert given["forwarded_allow_ips"] == []


def test_uvicorn_trusts_the_proxies_named(monkeypatch: pytest.MonkeyPatch) -> None:
    named = replace(OPTIONS, trusted_proxies=("10.0.0.0/8", "192.0.2.1"))

    given = uvicorn_options(monkeypatch, named)

    assert given["proxy_headers"] is True
    assert given["forwarded_allow_ips"] == ["10.0.0.0/8", "192.0.2.1"]


def test_granian_workers_run_the_bare_app_when_no_proxy_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    factory = f"{__name__}:bare_app_factory"

    assert load_behind_proxies(factory, ()) is bare_app
    behind = load_behind_proxies(factory, ("10.0.0.0/8",))
    assert isinstance(behind, ProxyHeadersMiddleware)
    assert "10.1.2.3" in behind.trusted_hosts
    assert "127.0.0.1" not in behind.trusted_hosts


@pytest.mark.parametrize("server", list(Server))
@pytest.mark.parametrize(
    "proxies", [("10.0.0.0/33",), ("proxy.example",), ("*", "10.0.0.1"), ("10.0.0.1", "")]
)
def test_a_proxy_that_is_no_address_or_network_is_refused(
    server: Server, proxies: tuple[str, ...]
) -> None:
    said = refusal(server, replace(OPTIONS, trusted_proxies=proxies)) or ""

    assert said.startswith("trusted proxy "), said


@pytest.mark.parametrize("server", list(Server))
@pytest.mark.parametrize("proxies", [(), ("*",), ("127.0.0.1", "::1", "10.0.0.0/8", "fd00::/8")])
def test_addresses_and_networks_are_taken(server: Server, proxies: tuple[str, ...]) -> None:
    assert refusal(server, replace(OPTIONS, trusted_proxies=proxies)) is None
