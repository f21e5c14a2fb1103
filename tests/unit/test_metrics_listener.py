"""Metrics are the operator's, not the clients' (issue 26, F12): the app has no ``/metrics``;
``stockroom serve`` serves them on a listener of its own (entrypoints/api/http_metrics.py;
served figures: tests/integration/test_metrics_serve.py)."""

from __future__ import annotations

import socket

import httpx
import pytest

from entrypoints.api.http_metrics import start_metrics_listener


async def test_the_api_has_no_metrics_route(client: httpx.AsyncClient) -> None:
    assert (await client.get("/metrics")).status_code == 404


def test_a_taken_port_is_an_error_not_a_listener_elsewhere() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        with pytest.raises(OSError, match="in use"):
            start_metrics_listener("127.0.0.1", holder.getsockname()[1], workers_folder=None)
