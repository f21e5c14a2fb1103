"""A PgBouncer (Debian's package, transaction mode) in front of the benchmark's PostgreSQL, for
the targets that reach it through the pooler. Run as ``postgres`` (it refuses root), on a free
port, in the run's folder; stopped by its pid."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from bench.cases import ADMIN_URL


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running(pool_size: int = 20) -> Iterator[int]:
    """The port of a PgBouncer that forwards every database to the benchmark's server."""
    # A folder of its own under /tmp: the run's folder is private to us, not to postgres.
    folder = Path(tempfile.mkdtemp(prefix="stockroom-bench-pgbouncer-"))
    port, server, as_postgres = _free_port(), urlsplit(ADMIN_URL), []
    ini = {"listen_addr": "127.0.0.1", "listen_port": port, "unix_socket_dir": ""}
    ini |= {"auth_type": "trust", "auth_file": folder / "users.txt", "pool_mode": "transaction"}
    ini |= {"default_pool_size": pool_size, "max_client_conn": 1000}
    ini |= {
        "pidfile": folder / "pid",
        "logfile": folder / "log",
        "ignore_startup_parameters": "extra_float_digits",
    }
    text = f"[databases]\n* = host={server.hostname} port={server.port or 5432}\n[pgbouncer]\n"
    (folder / "pgbouncer.ini").write_text(text + "".join(f"{k} = {v}\n" for k, v in ini.items()))
    (folder / "users.txt").write_text(f'"{server.username or "postgres"}" ""\n')
    if os.geteuid() == 0:
        as_postgres = ["runuser", "-u", "postgres", "--"]
        for path in (folder, *folder.iterdir()):
            shutil.chown(path, user="postgres")
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    subprocess.run([*as_postgres, binary, "-d", folder / "pgbouncer.ini"], check=True)
    try:
        deadline = time.monotonic() + 15
        while not _listening(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"PgBouncer did not start: {(folder / 'log').read_text()}")
            time.sleep(0.05)
        yield port
    finally:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            os.kill(int((folder / "pid").read_text()), signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)
