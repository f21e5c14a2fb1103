"""Draining: from the moment a worker is told to stop, ``/health/ready`` answers 503, so a
load balancer sends it no new work while the requests in flight finish.

What happens on SIGTERM (or SIGINT, which uvicorn handles the same way):

1. our handler marks the drain: readiness is 503 from then on, while the instance keeps
   serving every request that still comes (``STOCKROOM_DRAIN_SECONDS``, default 5: a load
   balancer's health-check interval times its fall count, so it has taken the instance out
   of rotation by then);
2. then it hands the signal on to uvicorn's handler, which it found in place (at once for a
   second signal: the operator insists); uvicorn stops accepting connections and lets the
   requests in flight finish, for up to ``stockroom serve --graceful-timeout`` seconds;
3. the app's lifespan ends: the pools are disposed and uvicorn's handler is put back.

Drain (5 s) + graceful timeout (15 s) + disposal stay well inside Kubernetes' default 30 s
between SIGTERM and SIGKILL, with room for a preStop hook.

uvicorn owns these signals in each worker process: it installs its handler before the app's
lifespan starts and restores the previous one once the lifespan has ended. Chaining in front
of it from the lifespan keeps uvicorn's own behaviour exactly as it is (a second SIGINT still
forces the exit), needs nothing private of uvicorn (no patched handler, no polling of its
``should_exit``), and is undone by the lifespan that did it.

Under Granian (``stockroom serve --server granian``) the same chaining works unchanged: each
worker registers its stop with ``loop.add_signal_handler`` before the lifespan starts, which
installs the event loop's own Python handler (uvloop's); ours goes in front of it and hands
the signal on to it, as with uvicorn's. The worker then stops accepting, lets its requests in
flight finish and ends the lifespan; past ``--graceful-timeout`` its supervisor kills it
instead of cancelling them.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SHUTDOWN_SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, FrameType | None], Any]


class Drain:
    """Whether this process has begun shutting down.

    Owned by the app (``app.state.drain``), not a module global: every app built in one
    process (the tests build hundreds) has its own, so flipping one touches no other.
    """

    def __init__(self, delay: float = 0.0) -> None:
        # A plain flag is enough: a Python signal handler runs on the main thread, between
        # two steps of the event loop that reads the flag.
        self._began = False
        # Seconds between readiness turning 503 and the server being told to stop: the
        # instance keeps serving while the balancer's health checks notice (its interval
        # times its fall count) and it stops sending new requests here.
        self.delay = delay
        self._handing_on: asyncio.TimerHandle | None = None

    @property
    def began(self) -> bool:
        return self._began

    def begin(self) -> None:
        self._began = True

    @contextmanager
    def begins_on_signals(
        self, signals: tuple[signal.Signals, ...] = SHUTDOWN_SIGNALS
    ) -> Iterator[None]:
        """While the block runs, each of ``signals`` begins the drain and then goes on to the
        Python handler that was in place (uvicorn's). A signal without one (default action,
        or ignored) is left alone: nobody would drain there anyway.

        Off the main thread (an app run in a test client's thread) nothing is installed:
        Python allows signal handlers on the main thread only.
        """
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        installed: dict[signal.Signals, tuple[Handler, Handler]] = {}
        for signum in signals:
            previous = signal.getsignal(signum)
            if callable(previous):
                hook = self._in_front_of(previous)
                signal.signal(signum, hook)
                installed[signum] = (hook, previous)
        try:
            yield
        finally:
            for signum, (hook, previous) in installed.items():
                # A handler chained in front of ours since keeps its place (and still reaches
                # uvicorn's through ours); only our own is taken back.
                if signal.getsignal(signum) is hook:
                    signal.signal(signum, previous)

    def _in_front_of(self, previous: Handler) -> Handler:
        loop = asyncio.get_running_loop() if self.delay > 0 else None

        def begin_then_hand_on(signum: int, frame: FrameType | None) -> None:
            first = not self._began
            self.begin()
            if loop is None or not first:
                # No delay asked for, or a second signal: the operator insists, stop now.
                if self._handing_on is not None:
                    self._handing_on.cancel()
                previous(signum, frame)
                return
            # From the signal handler, which runs between two steps of the loop's thread.
            self._handing_on = loop.call_later(self.delay, previous, signum, frame)

        return begin_then_hand_on
