"""A PostgreSQL primary and one streaming replica of the run's own (initdb, pg_basebackup and
pg_ctl from the installed PostgreSQL, run as ``postgres``, on free ports, in a folder of their
own), for the row that measures Stockroom with a replica configured against that primary alone."""

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.server import free_port

SETTINGS = {"listen_addresses": "'127.0.0.1'", "max_connections": "100", "wal_level": "replica"}
HBA = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
HBA += "host replication all 127.0.0.1/32 trust\n"  # for pg_basebackup and the replica


@contextlib.contextmanager
def running() -> Iterator[tuple[int, int]]:
    """The ports of the primary and of its replica, both accepting connections."""
    folder = Path(tempfile.mkdtemp(prefix="stockroom-bench-replicas-"))
    bindir = Path(
        max(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    )
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(folder, user="postgres")
    ports = free_port(), free_port()
    data = folder / "primary", folder / "replica"

    def run(tool: str, *args: str) -> None:
        subprocess.run([*as_postgres, bindir / tool, *args], check=True, capture_output=True)

    def start(node: int) -> None:
        run("pg_ctl", "-D", str(data[node]), "-l", str(folder / f"log{node}"), "-w", "start")

    try:
        run("initdb", "-D", str(data[0]), "-U", "postgres", "-A", "trust", "--no-sync")
        (data[0] / "pg_hba.conf").write_text(HBA)
        conf = SETTINGS | {"port": str(ports[0]), "unix_socket_directories": f"'{folder}'"}
        with (data[0] / "postgresql.conf").open("a") as file:
            file.writelines(f"{key} = {value}\n" for key, value in conf.items())
        start(0)
        run("pg_basebackup", "-h", "127.0.0.1", "-p", str(ports[0]), "-U", "postgres",
            "-D", str(data[1]), "-R", "--checkpoint=fast")  # fmt: skip
        with (data[1] / "postgresql.conf").open("a") as file:
            file.write(f"port = {ports[1]}\nhot_standby = on\n")
        start(1)
        yield ports
    finally:
        for node in (1, 0):  # by pg_ctl, which stops the postmaster by its pid
            with contextlib.suppress(subprocess.CalledProcessError):
                run("pg_ctl", "-D", str(data[node]), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
