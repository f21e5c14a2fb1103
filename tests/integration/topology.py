"""Stockroom as an operator runs it, for the availability scenarios (issue 23): two instances of
``stockroom serve --workers 2`` behind HAProxy (health check on ``/health/ready`` every
second), PgBouncer in transaction mode in front of a primary, and a streaming replica for the
read port; and a mixed load that checks every answer.

Every server is started from the installed packages and binaries, in a folder of its own on
free ports, and stopped by its pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.integration.cli_support import STOCKROOM
from tests.integration.servers import PgBouncer, accepts_connections, free_port, unavailable

# HAProxy checks each instance every second and takes it out after 2 failed checks: the
# instances' drain (STOCKROOM_DRAIN_SECONDS, 5 by default) is longer than that.
CHECK_INTERVAL_MS = 1000
FALL = 2
HAPROXY_CONFIG = """
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 2s
    option http-keep-alive
frontend shop
    bind 127.0.0.1:{port}
    stats enable
    stats uri /stats
    default_backend stockroom
backend stockroom
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter {inter}ms fall {fall} rise 1
{servers}
"""


def haproxy_binary() -> str:
    found = [path for path in ("/usr/sbin/haproxy", "/usr/bin/haproxy") if os.access(path, os.X_OK)]
    if not found:
        unavailable("HAProxy", "not installed (Debian's haproxy package; make test installs it)")
    return found[0]


def _stop(process: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM by pid, then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


@dataclass
class Instance:
    """One ``stockroom serve --workers 2`` on a port of its own, which it keeps across
    restarts (as a host does)."""

    name: str
    folder: Path
    settings: dict[str, str]
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
        env["STOCKROOM_METRICS_PORT"] = str(self.metrics_port)  # several instances on one host
        env.update(self.settings)
        log = (self.folder / f"{self.name}.log").open("ab")
        command = [STOCKROOM, "serve", "--workers", "2", "--port", str(self.port)]
        self.process = subprocess.Popen(  # noqa: S603 - our own console script
            command, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        self.wait_ready()

    def wait_ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited:\n{self.log()}")
            with contextlib.suppress(httpx.TransportError):
                url = f"http://127.0.0.1:{self.port}/health/ready"
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"{self.name} was not ready in {within} s:\n{self.log()}")

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops it, and wait for the whole stop: the drain, the
        requests in flight, the pools' disposal."""
        if self.process is not None:
            _stop(self.process, grace=60)

    def log(self) -> str:
        path = self.folder / f"{self.name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else "(no log)"


class HAProxy:
    def __init__(self, folder: Path, backends: list[Instance]) -> None:
        self.folder = folder
        self.port = free_port()
        servers = "\n".join(
            f"    server {backend.name} 127.0.0.1:{backend.port} check" for backend in backends
        )
        config = HAPROXY_CONFIG.format(
            port=self.port, inter=CHECK_INTERVAL_MS, fall=FALL, servers=servers
        )
        self.config = folder / "haproxy.cfg"
        self.config.write_text(config)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.folder / "haproxy.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command
            [haproxy_binary(), "-db", "-f", str(self.config)], stdout=log, stderr=log
        )
        log.close()
        deadline = time.monotonic() + 30
        while not accepts_connections(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                unavailable("HAProxy", (self.folder / "haproxy.log").read_text()[-2000:])
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


def fresh_folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="stockroom-topology-"))


def pooler_for(primary_url: str) -> PgBouncer:
    """PgBouncer in transaction mode in front of the primary, with docs/deployment.md's
    settings for a fast recovery (``server_login_retry = 1``) and an admin user for PAUSE and
    RESUME."""
    return PgBouncer(
        "transaction",
        primary_url,
        pool_size=40,
        extra={"server_login_retry": "1", "admin_users": "postgres"},
    )
