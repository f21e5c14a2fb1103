"""The drain's signal hook: it begins the drain and hands the signal on to the handler it
found (uvicorn's, in a worker), and the app's lifespan installs and removes it.

No real signal is ever sent: the tests call the installed handler the way Python would.
Each test puts a recording handler of its own in place first and the original back after.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest
from fastapi import FastAPI

from entrypoints.api.app import create_app
from entrypoints.api.drain import SHUTDOWN_SIGNALS, Drain, Handler
from entrypoints.container import Container
from tests.api_support import api_client
from tests.polling import eventually
from tests.unit.health_support import StandInDatabase


class StandInUvicorn:
    """The handler uvicorn installs in a worker before the app's lifespan starts."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def handle_exit(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)


@pytest.fixture
def uvicorn() -> Iterator[StandInUvicorn]:
    stand_in = StandInUvicorn()
    originals = {signum: signal.signal(signum, stand_in.handle_exit) for signum in SHUTDOWN_SIGNALS}
    try:
        yield stand_in
    finally:
        for signum, original in originals.items():
            signal.signal(signum, original)


def installed(signum: signal.Signals) -> Handler:
    handler = signal.getsignal(signum)
    assert callable(handler), handler
    return handler


@pytest.mark.parametrize("signum", SHUTDOWN_SIGNALS, ids=lambda s: s.name)
def test_the_signal_begins_the_drain_then_reaches_uvicorn(
    uvicorn: StandInUvicorn, signum: signal.Signals
) -> None:
    drain = Drain()
    with drain.begins_on_signals():
        handler = installed(signum)
        assert handler != uvicorn.handle_exit  # ours is in front
        assert not drain.began

        handler(signum, None)

        assert drain.began
        assert uvicorn.received == [signum]  # uvicorn still shuts down as it would
    assert signal.getsignal(signum) == uvicorn.handle_exit  # and gets its place back


def test_a_signal_with_its_default_action_is_left_alone(uvicorn: StandInUvicorn) -> None:
    # No Python handler means nobody drains: the process would just end, so no hook either.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    drain = Drain()
    with drain.begins_on_signals():
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        assert installed(signal.SIGINT) != uvicorn.handle_exit
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_a_handler_chained_in_front_of_ours_keeps_its_place(uvicorn: StandInUvicorn) -> None:
    later = StandInUvicorn()
    drain = Drain()
    with drain.begins_on_signals():
        ours = installed(signal.SIGTERM)
        signal.signal(signal.SIGTERM, later.handle_exit)
    assert signal.getsignal(signal.SIGTERM) == later.handle_exit
    # Whoever chained in front still reaches the drain and uvicorn through ours.
    ours(signal.SIGTERM, None)
    assert drain.began
    assert uvicorn.received == [signal.SIGTERM]


def test_nothing_is_installed_off_the_main_thread(uvicorn: StandInUvicorn) -> None:
    seen: list[object] = []
    failures: list[BaseException] = []

    def in_a_thread() -> None:
        try:
            with Drain().begins_on_signals():
                seen.append(signal.getsignal(signal.SIGTERM))
        except BaseException as error:  # handed to the test's thread below
            failures.append(error)

    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join(timeout=10)
    assert not failures
    assert seen == [uvicorn.handle_exit]


@pytest.fixture
def app(container: Container) -> FastAPI:
    """An app of the test's own: the test drains it, and no later test may inherit that."""
    return create_app(container)


async def test_the_apps_lifespan_hooks_sigterm_into_readiness(
    uvicorn: StandInUvicorn, app: FastAPI
) -> None:
    assert app.state.drain.delay == 5.0  # STOCKROOM_DRAIN_SECONDS' default
    app.state.drain.delay = 0.01  # the test's own: the same path, a shorter wait
    async with app.router.lifespan_context(app), api_client(app) as client:
        assert (await client.get("/health/ready")).status_code == 200

        installed(signal.SIGTERM)(signal.SIGTERM, None)

        response = await client.get("/health/ready")
        assert response.status_code == 503
        assert response.json() == {"detail": "shutting down"}
        # The app keeps serving through the drain, and uvicorn hears the signal after it.
        assert (await client.get("/health/live")).status_code == 200
        await eventually(lambda: uvicorn.received == [signal.SIGTERM])
    assert signal.getsignal(signal.SIGTERM) == uvicorn.handle_exit
    database = app.state.container.database()
    assert isinstance(database, StandInDatabase)
    assert database.disposals == 1  # the lifespan's end disposed the pools


async def test_with_a_delay_the_server_hears_the_signal_only_after_it(
    uvicorn: StandInUvicorn,
) -> None:
    """Readiness turns 503 at once; the server keeps serving (and accepting) for the delay,
    so a balancer's health checks take the instance out before it stops."""
    drain = Drain(delay=0.05)
    with drain.begins_on_signals():
        handler = installed(signal.SIGTERM)
        handler(signal.SIGTERM, None)
        assert drain.began
        assert uvicorn.received == []  # not yet: still serving
        await eventually(lambda: uvicorn.received == [signal.SIGTERM])


async def test_a_second_signal_during_the_delay_stops_at_once_and_only_once(
    uvicorn: StandInUvicorn,
) -> None:
    drain = Drain(delay=60)
    with drain.begins_on_signals():
        handler = installed(signal.SIGTERM)
        handler(signal.SIGTERM, None)
        handler(signal.SIGINT, None)  # the operator insists (Ctrl-C)
        assert uvicorn.received == [signal.SIGINT]
        await asyncio.sleep(0)
        assert uvicorn.received == [signal.SIGINT]  # the delayed one was called off
