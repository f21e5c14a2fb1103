"""Real servers a test starts for itself: free ports, running as ``postgres`` when we are root,
and a PgBouncer of the suite's own in front of the test PostgreSQL.

Each is started in a temporary folder on a free port and stopped by its own pid afterwards.
When one cannot start, a laptop skips with the reason and CI (``CI`` set) fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy.engine import make_url

from entrypoints.cli.serve import DEFAULT_KEEP_ALIVE

IN_CI = bool(os.environ.get("CI"))
START_SECONDS = 15.0
STOCKROOM = str(Path(sys.executable).parent / "stockroom")


def unavailable(what: str, reason: str) -> NoReturn:
    message = f"cannot run {what}: {reason}"
    if IN_CI:
        pytest.fail(message + " (CI=true: this test must run)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def accepts_connections(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def as_postgres(folder: Path, what: str) -> list[str]:
    """The prefix that runs a command as ``postgres`` when we are root (PostgreSQL's tools and
    PgBouncer refuse to run as root), after giving ``folder`` to that user; empty otherwise."""
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        unavailable(what, "running as root and there is no runuser to become postgres")
    try:
        shutil.chown(folder, user="postgres", group=None)
    except LookupError:
        unavailable(what, "running as root and there is no 'postgres' OS user")
    return [runuser, "-u", "postgres", "--"]


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(found).is_file():
        unavailable("PgBouncer", "no pgbouncer binary (`make test` installs Debian's package)")
    return found


class PgBouncer:
    """PgBouncer (Debian's package) in one pool mode, in front of one PostgreSQL server.

    ``stop()`` and ``start()`` again on the same port stand for a pooler restart.
    """

    def __init__(
        self,
        mode: str,
        upstream_url: str,
        pool_size: int = 20,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        upstream = make_url(upstream_url)
        self.mode = mode
        self.upstream_url = upstream_url
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix=f"stockroom-pgbouncer-{mode}-"))
        self._prefix = as_postgres(self.folder, "PgBouncer")
        self._binary = pgbouncer_binary()
        settings = {
            "listen_addr": "127.0.0.1",
            "listen_port": str(self.port),
            "unix_socket_dir": "",
            "auth_type": "trust",
            "auth_file": str(self.folder / "userlist.txt"),
            "pool_mode": mode,
            "default_pool_size": str(pool_size),
            "max_client_conn": "500",
            # A client waits this long for a server connection, then gets an error: a test
            # whose pools outgrow the pooler's fails in seconds instead of hanging for 2 min.
            "query_wait_timeout": "15",
            "pidfile": str(self.folder / "pgbouncer.pid"),
            "logfile": str(self.folder / "pgbouncer.log"),
            # Clients may send these at start-up; PgBouncer would refuse the connection.
            "ignore_startup_parameters": "extra_float_digits,options",
            **(extra or {}),
        }
        server = f"host={upstream.host or '127.0.0.1'} port={upstream.port or 5432}"
        ini = "[databases]\n* = " + server + "\n[pgbouncer]\n"
        ini += "".join(f"{key} = {value}\n" for key, value in settings.items())
        (self.folder / "pgbouncer.ini").write_text(ini)
        (self.folder / "userlist.txt").write_text(f'"{upstream.username or "postgres"}" ""\n')
        for path in self.folder.iterdir():
            if self._prefix:
                shutil.chown(path, user="postgres", group=None)

    def url(self, database: str) -> str:
        return (
            make_url(self.upstream_url)
            .set(host="127.0.0.1", port=self.port, database=database)
            .render_as_string(hide_password=False)
        )

    @property
    def pid(self) -> int | None:
        try:
            return int((self.folder / "pgbouncer.pid").read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def start(self) -> None:
        command = [*self._prefix, self._binary, "-d", str(self.folder / "pgbouncer.ini")]
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)  # noqa: S603
        deadline = time.monotonic() + START_SECONDS
        while not accepts_connections(self.port):
            if done.returncode != 0 or time.monotonic() > deadline:
                unavailable("PgBouncer", f"it did not start: {done.stderr.strip()} {self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Immediate shutdown (SIGTERM in PgBouncer 1.18), waited for by pid."""
        pid = self.pid
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)
        else:
            os.kill(pid, signal.SIGKILL)
        (self.folder / "pgbouncer.pid").unlink(missing_ok=True)

    def admin(self, command: str) -> None:
        """A command on PgBouncer's admin console (``PAUSE``, ``RESUME``; needs ``admin_users``
        in ``extra``): psql, since the console speaks only the simple query protocol."""
        psql = [
            "psql", "-X", "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
            "-d", "pgbouncer", "-c", command,
        ]  # fmt: skip
        subprocess.run(psql, check=True, capture_output=True, timeout=30)  # noqa: S603

    def log(self) -> str:
        path = self.folder / "pgbouncer.log"
        return path.read_text()[-2000:] if path.exists() else "(no log)"

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


# httpx keeps an idle connection 5 s, exactly as long as the server does: under load, the pool's
# least used connection can idle that long and be sent on just as the server closes it, and
# the request fails with a reset (ReadError). A client must give up on idle connections first.
CLIENT_KEEP_ALIVE = DEFAULT_KEEP_ALIVE / 2


def live_client(**options: Any) -> httpx.AsyncClient:
    """An HTTP client for a real ``stockroom serve``: idle connections dropped before the
    server drops them. ``options`` go to ``httpx.AsyncClient`` (``limits`` is set here)."""
    max_connections = options.pop("max_connections", 100)
    limits = httpx.Limits(max_connections=max_connections, keepalive_expiry=CLIENT_KEEP_ALIVE)
    return httpx.AsyncClient(limits=limits, **options)


def wait_until_serving(base: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    """Until ``stockroom serve`` at ``base`` answers (at most 60 s); the test fails with its
    log's tail if it does not, or if it exits first."""
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{base}/openapi.json", timeout=2)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail(f"stockroom serve did not come up:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.1)


@contextmanager
def stockroom_serve(
    settings: Mapping[str, str], folder: Path, *, workers: int = 2, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """``stockroom serve`` as an operator runs it, with these ``STOCKROOM_*`` settings and no
    others (but a free STOCKROOM_METRICS_PORT unless they name one), in ``folder``; yields its
    base URL once it answers, and stops it by its pid."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}
    # No balancer polls these servers: stopped, they stop at once (the drain's own tests set it).
    env["STOCKROOM_DRAIN_SECONDS"] = "0"
    # Each its own metrics listener: another server (or `make run`) may hold the default port.
    env["STOCKROOM_METRICS_PORT"] = str(free_port())
    env.update(settings)
    log_path = folder / f"serve-{port}.log"
    command = [STOCKROOM, "serve", "--port", str(port), "--workers", str(workers), *args]
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own console script
            command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, process, log_path)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def port_of(base: str) -> int:
    """The port of a server's base URL, as ``stockroom_serve`` yields it."""
    port = urlsplit(base).port
    assert port is not None
    return port


def serve_logs(folder: Path) -> str:
    """What the servers ``stockroom_serve`` started in ``folder`` printed (stdout and stderr)."""
    return "\n".join(path.read_text() for path in folder.glob("serve-*.log"))


def stream_endless_field(port: int, opening: bytes, total: int) -> int:
    """Send ``opening`` (a request up to a field's name), then that field's value, ``total``
    bytes in 64 KiB writes, for as long as the server takes them; how many bytes of the value
    the kernel accepted before the connection broke (the rest of a limit test's measure)."""
    sent = 0
    piece = b"a" * (64 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(opening)
            while sent < total:
                connection.sendall(piece)
                sent += len(piece)
            connection.sendall(b"\r\n\r\n")
            connection.recv(64 * 1024)
        except (ConnectionResetError, BrokenPipeError):
            pass
    return sent


def memory_kib(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (its high-water mark) of a process, in KiB."""
    found = re.search(rf"^{field}:\s+(\d+) kB$", Path(f"/proc/{pid}/status").read_text(), re.M)
    assert found is not None
    return int(found.group(1))


def exchange_raw(port: int, request: bytes) -> bytes:
    """Send raw bytes to a local server and read until it closes the connection; a reset
    loses what it loses (a server refusing a request may close without reading it all)."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        try:
            connection.sendall(request)
            while chunk := connection.recv(64 * 1024):
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            pass
    return received
