"""The HTTP servers ``stockroom serve`` can run the API on, with the same app factory, host,
port and worker count on both (docs/deployment.md, "App hosts", says what differs):

- ``uvicorn``: Python's event loop server with the httptools parser and uvloop, our header
  limit in its protocol (entrypoints/api/header_guard.py);
- ``granian``: a Rust server (hyper on tokio) that parses HTTP and hands each request to the
  ASGI app running on uvloop in every worker process.

Each server's library is imported only when it runs: a worker imports this module to load the
app, and needs neither the CLI nor the other server.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn._types import ASGI3Application

APP_FACTORY = "entrypoints.api.app:create_app_from_env"
# uvicorn's httptools protocol with STOCKROOM_MAX_HEADER_BYTES enforced while the headers
# arrive: httptools itself has no limit, and by the time any ASGI middleware could look, the
# parser has buffered the whole header (a 32 MiB one included). Why not h11 with
# --h11-max-incomplete-event-size: docs/security.md, "Request limits".
HTTP_PROTOCOL = "entrypoints.api.header_guard:HeaderLimitedHttpToolsProtocol"
# hyper refuses (panics on) a read buffer smaller than this: Granian's floor for the limit.
GRANIAN_MIN_HEADER_BYTES = 8192
# How long uvicorn's supervisor gives a worker to start (import the app, run its lifespan's
# start: one dependency check) before it kills and restarts it. uvicorn's 5 s default is what
# a busy 2-core host missed in 7 of 9 starts (issue 23): a worker needs about 0.9 s to import
# and 1.7-2.5 s to answer readiness here (docs/deployment.md, "App hosts"), and a host in a rolling
# restart shares its cores with the instances still serving. The same bound applies to its
# liveness pings of running workers: a worker stuck that long is restarted.
WORKER_START_SECONDS = 30
# uvicorn's default listen backlog. Granian's is 1024, and it also caps the connections each
# worker serves at once at backlog / workers ("backpressure"): 2048 keeps that cap (1024 a
# worker with 2) above any load we measure, as uvicorn has none.
BACKLOG = 2048
# uvicorn's access line, from what Granian's access logger offers (its client address has no
# port, and its path no query string).
GRANIAN_ACCESS_FORMAT = '%(addr)s - "%(method)s %(path)s %(protocol)s" %(status)d'


class Server(StrEnum):
    uvicorn = "uvicorn"
    granian = "granian"


DEFAULT_SERVER = Server.uvicorn


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    workers: int
    graceful_timeout: int  # seconds
    keep_alive: int  # seconds
    log_config: dict[str, Any] | None  # logging.config.dictConfig; None: the server's own
    log_level: str = "INFO"
    max_header_bytes: int | None = None  # None: the server's own limit (uvicorn: the guard's)
    access_log: bool = True
    # Whose X-Forwarded-For (and X-Forwarded-Proto) is believed: addresses, networks, or "*".
    # Empty: nobody's, the connection's peer is the client (STOCKROOM_TRUSTED_PROXIES).
    trusted_proxies: tuple[str, ...] = ()


def refusal(server: Server, options: ServeOptions) -> str | None:
    """Why ``server`` cannot honour ``options`` (one line), or None when it can."""
    for proxy in options.trusted_proxies:
        if not _is_address_or_network(proxy) or (proxy == "*" and len(options.trusted_proxies) > 1):
            return (
                f"trusted proxy {proxy!r} is no IP address or network (STOCKROOM_TRUSTED_PROXIES "
                "or --forwarded-allow-ips: e.g. 10.0.0.5,10.0.0.0/8, or * alone for any)"
            )
    if server is not Server.granian:
        return None
    if options.graceful_timeout == 0:
        # Granian's workers_kill_timeout is at least 1 s: 0 switches the kill off, and a
        # request that never ends would then hold the worker (and the shutdown) forever.
        return "--graceful-timeout 0 is not possible under granian (at least 1 second)"
    if options.max_header_bytes is not None and options.max_header_bytes < (
        GRANIAN_MIN_HEADER_BYTES
    ):
        return (
            f"STOCKROOM_MAX_HEADER_BYTES={options.max_header_bytes} is not possible under "
            f"granian (at least {GRANIAN_MIN_HEADER_BYTES}: hyper's smallest read buffer)"
        )
    return None


def run(server: Server, app: str, options: ServeOptions) -> None:
    """Serve the ASGI app factory ``app`` ("module:function") until a signal stops it."""
    if server is Server.granian:
        run_granian(app, options)
    else:
        run_uvicorn(app, options)


def run_uvicorn(app: str, options: ServeOptions) -> None:
    import uvicorn

    uvicorn.run(
        app,
        factory=True,
        host=options.host,
        port=options.port,
        workers=options.workers,
        # The header limit lives in the protocol (it reads STOCKROOM_MAX_HEADER_BYTES itself).
        http=HTTP_PROTOCOL,
        # On SIGTERM, requests in flight get this long, then are cancelled; the lifespan (and
        # so the pools' disposal) runs after them either way.
        timeout_graceful_shutdown=options.graceful_timeout,
        timeout_keep_alive=options.keep_alive,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
        # Given explicitly, even empty: uvicorn would otherwise trust $FORWARDED_ALLOW_IPS,
        # else 127.0.0.1, and a local client could then name a fresh address for every
        # login it guesses (issue 26, F3).
        proxy_headers=bool(options.trusted_proxies),
        forwarded_allow_ips=list(options.trusted_proxies),
        # Applied by uvicorn in the supervisor and in every worker before it logs anything
        # (the app's factory configures the same again from each worker's settings).
        log_config=options.log_config,
        access_log=options.access_log,
    )


def run_granian(app: str, options: ServeOptions) -> None:
    from granian import Granian
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    # Workers are started afresh, as uvicorn's are, not forked from this process: a fork
    # would inherit the CLI's state (engines of the checks before serving, prometheus_client
    # imported before PROMETHEUS_MULTIPROC_DIR was set). Granian supports both methods.
    multiprocessing.set_start_method("spawn", force=True)
    http1 = HTTP1Settings(
        # hyper closes a connection that has not sent a whole request head this long: the
        # idle keep-alive timeout (uvicorn's --timeout-keep-alive) and, unlike uvicorn's, a
        # limit on a slow client's header section too.
        header_read_timeout=options.keep_alive * 1000,
        keep_alive=True,
        # hyper answers 431 (empty body) to a request head that fills its read buffer, which
        # is never larger than this; it also reads bodies in pieces of at most this size.
        max_buffer_size=options.max_header_bytes or HTTP1Settings.max_buffer_size,
    )
    server = Granian(
        app,
        address=options.host,
        port=options.port,
        interface=Interfaces.ASGI,  # with the lifespan: pools opened and disposed there
        factory=True,
        workers=options.workers,
        # uvicorn's loop; HTTP/1.1 only, as uvicorn: HTTP/2 (h2c) has limits of its own
        # (16 MiB of headers) that STOCKROOM_MAX_HEADER_BYTES would not bound.
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        http1_settings=http1,
        backlog=BACKLOG,
        # On SIGTERM each worker stops accepting, lets its requests in flight finish, then
        # ends the lifespan. Granian has no cancellation: a worker still busy after this long
        # is killed (SIGKILL), without its lifespan's end.
        workers_kill_timeout=options.graceful_timeout,
        # A worker that dies is started again, as uvicorn's supervisor does; by default
        # Granian would stop the whole server.
        respawn_failed_workers=True,
        log_dictconfig=options.log_config,
        log_level=LogLevels(options.log_level.lower()),
        # uvicorn logs a line per request by default; so does this.
        log_access=options.access_log,
        log_access_format=GRANIAN_ACCESS_FORMAT,
    )
    # Granian has no X-Forwarded-For handling of its own: uvicorn's middleware, the same
    # rules as under uvicorn, wraps the app in each worker.
    loader = partial(load_behind_proxies, trusted=options.trusted_proxies)
    server.serve(target_loader=loader)


def load_behind_proxies(app: str, trusted: tuple[str, ...]) -> ASGI3Application:
    """In a Granian worker: the app built by the factory ``app``, X-Forwarded-For applied
    from the proxies in ``trusted`` (none: the app alone, the peer is the client)."""
    import importlib

    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    module, _, name = app.partition(":")
    factory: Callable[[], ASGI3Application] = getattr(importlib.import_module(module), name)
    if not trusted:
        return factory()
    return ProxyHeadersMiddleware(factory(), trusted_hosts=list(trusted))


def _is_address_or_network(proxy: str) -> bool:
    """uvicorn would take anything else as a literal host name (meant for Unix sockets):
    a typo there (10.0.0.0/33) would trust nobody, silently."""
    if proxy == "*":
        return True
    try:
        ipaddress.ip_network(proxy, strict=False)
    except ValueError:
        return False
    return True
