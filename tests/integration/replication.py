"""A PostgreSQL primary and one streaming replica of the suite's own, for the replica tests.

Both are built from the installed binaries (``initdb``, ``pg_basebackup``, ``pg_ctl``) in one
temporary folder under /tmp, on free loopback ports, with trust auth and settings for speed
(a throwaway cluster: no fsync). The replica is a ``pg_basebackup -R`` of the primary, fed
through a physical replication slot (so a replica stopped for a while still finds all the WAL
it missed), and it applies each commit ``apply_delay_ms`` after the primary made it
(``recovery_min_apply_delay``): a read on the replica right after a write is reliably stale.

Processes are started and stopped by ``pg_ctl`` only, which finds each postmaster by the pid
in its data folder. When the cluster cannot be built, a laptop skips with the reason and CI
(``CI`` set) fails (``servers.unavailable``).

Faults, each undone when its block ends however it ends: ``replica_hung`` (every process of
the replica stopped, as a hung host: the kernel still accepts connections, nothing answers),
``replication_cut`` (the replica loses its WAL receiver) and ``receiver_stalled`` (the
receiver stays connected and receives nothing, as behind a network partition).
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.integration.servers import as_postgres, free_port, unavailable
from tests.polling import eventually

WHAT = "a PostgreSQL primary with a streaming replica"
SLOT = "stockroom_replica"
COMMAND_SECONDS = 120.0
REPLAY_SECONDS = 30.0  # wait_for_replay's default bound: far above the apply delay
POLL_SECONDS = 0.02

PRIMARY_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "fsync": "off",  # throwaway: a crash loses nothing we need
    # synchronous_commit stays on: a commit's WAL is written before it returns, so the
    # primary's pg_current_wal_lsn() afterwards covers it (wait_for_replay relies on that).
    "shared_buffers": "16MB",
    "max_connections": "60",  # the replica needs at least as many as the primary
    "wal_level": "replica",
    "max_wal_senders": "4",
    "max_replication_slots": "4",
}
PG_HBA = (
    "local all all trust\n"
    "host all all 127.0.0.1/32 trust\n"
    "local replication all trust\n"
    "host replication all 127.0.0.1/32 trust\n"
)


class CommandFailed(Exception):
    pass


# What a replica that is stopped, stopping or starting answers; anything else is a bug.
_REPLICA_AWAY = (
    OSError,  # refused, reset, or a connect timeout (TimeoutError is an OSError)
    asyncpg.OperatorInterventionError,  # shutting down, or "the database system is starting up"
    asyncpg.PostgresConnectionError,
)


@dataclass
class _Progress:
    """What ``wait_for_replay`` last saw, for its timeout message."""

    replayed: str | None = None
    error: BaseException | None = None


def postgres_bindir() -> Path:
    """``STOCKROOM_TEST_PG_BINDIR``, or the newest /usr/lib/postgresql/*/bin with what we run."""
    configured = os.environ.get("STOCKROOM_TEST_PG_BINDIR")
    candidates = [configured] if configured else glob.glob("/usr/lib/postgresql/*/bin")
    tools = ("initdb", "pg_ctl", "pg_basebackup")
    found = [
        Path(path) for path in candidates if all((Path(path) / tool).is_file() for tool in tools)
    ]
    if not found:
        unavailable(
            WHAT,
            "no initdb/pg_ctl/pg_basebackup (install postgresql or set STOCKROOM_TEST_PG_BINDIR)",
        )
    return max(found, key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)


def _run(argv: Sequence[str]) -> None:
    done = subprocess.run(  # noqa: S603 - our own fixed commands
        argv, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
    )
    if done.returncode != 0:
        raise CommandFailed(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")


def _asyncpg_dsn(port: int, database: str = "postgres") -> str:
    return f"postgresql://postgres@127.0.0.1:{port}/{database}"


def _children(parent: int) -> list[int]:
    """The pids whose parent is ``parent`` (from /proc: Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (command) state ppid ...": the command may hold spaces and parentheses.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def _continue(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)


async def _set_primary_conninfo(replica: asyncpg.Connection, conninfo: str) -> None:
    """ALTER SYSTEM takes no parameters: the value is quoted by the server (``format %L``)."""
    statement = await replica.fetchval(
        "SELECT format('ALTER SYSTEM SET primary_conninfo = %L', $1::text)", conninfo
    )
    await replica.execute(statement)
    await replica.execute("SELECT pg_reload_conf()")


class ReplicatedCluster:
    """A primary and one hot-standby replica, replaying ``apply_delay_ms`` behind."""

    def __init__(self, apply_delay_ms: int = 500) -> None:
        self.apply_delay_ms = apply_delay_ms
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="stockroom-replicas-", dir="/tmp"))
        self.primary_port = free_port()
        self.replica_port = free_port()
        while self.replica_port == self.primary_port:
            self.replica_port = free_port()
        self._prefix: list[str] = []

    # --- where things are ----------------------------------------------------------------

    @property
    def primary_data(self) -> Path:
        return self.root / "primary"

    @property
    def replica_data(self) -> Path:
        return self.root / "replica"

    def primary_url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.primary_port}/{database}"

    def replica_url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.replica_port}/{database}"

    def logs(self) -> str:
        """The tail of both servers' logs, for failure messages."""
        tails = []
        for name in ("primary", "replica"):
            path = self.root / f"{name}.log"
            text = path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"
            tails.append(f"--- {name}.log ---\n{text}")
        return "\n".join(tails)

    # --- life cycle ----------------------------------------------------------------------

    def build(self) -> None:
        """initdb the primary, start it, clone the replica from it and start that: seconds."""
        self._prefix = as_postgres(self.root, WHAT)
        try:
            self._build_primary()
            self._build_replica()
        except (CommandFailed, subprocess.TimeoutExpired) as error:
            unavailable(WHAT, f"{error}\n{self.logs()}")

    def _build_primary(self) -> None:
        _run(
            self._tool(
                "initdb",
                "-D",
                str(self.primary_data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
        )
        settings = {
            **PRIMARY_SETTINGS,
            "port": str(self.primary_port),
            "unix_socket_directories": f"'{self.root}'",
        }
        self._append_settings(self.primary_data, settings)
        (self.primary_data / "pg_hba.conf").write_text(PG_HBA)  # the replica copies it
        _run(self._ctl("primary", "start", "-w"))

    def _build_replica(self) -> None:
        # -R writes standby.signal and primary_conninfo; -C -S creates the slot that keeps
        # the WAL a stopped replica has not received yet.
        _run(
            self._tool(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary_port),
                "-U",
                "postgres",
                "-D",
                str(self.replica_data),
                "-R",
                "-X",
                "stream",
                "-C",
                "-S",
                SLOT,
                "-c",
                "fast",
                "--no-sync",
            )
        )
        self._append_settings(
            self.replica_data,
            {
                "port": str(self.replica_port),
                "hot_standby": "on",
                "recovery_min_apply_delay": f"{self.apply_delay_ms}ms",
                # Long replica reads are not cancelled by the primary's vacuum.
                "hot_standby_feedback": "on",
                # Reconnect to the primary quickly after a break (default 5 s).
                "wal_retrieve_retry_interval": "200ms",
            },
        )
        _run(self._ctl("replica", "start", "-w"))

    async def stop_replica(self) -> None:
        """A clean, fast shutdown of the replica (its clients are disconnected)."""
        await asyncio.to_thread(_run, self._ctl("replica", "stop", "-m", "fast", "-w"))

    async def start_replica(self) -> None:
        """Start the replica again; it returns once the replica accepts read-only connections,
        then catches up from the slot (``wait_for_replay`` to be sure it has)."""
        await asyncio.to_thread(_run, self._ctl("replica", "start", "-w"))

    async def restart_primary(self) -> None:
        """A fast restart of the primary (its clients are disconnected); it returns once the
        primary accepts connections again. The replica reconnects by itself."""
        await asyncio.to_thread(_run, self._ctl("primary", "restart", "-m", "fast", "-w"))

    def remove(self) -> None:
        """Stop both servers, whatever state they are in, and delete everything."""
        for name in ("replica", "primary"):
            if (self.root / name).exists():
                subprocess.run(  # noqa: S603 - our own fixed command
                    self._ctl(name, "stop", "-m", "immediate", "-w"),
                    capture_output=True,
                    timeout=COMMAND_SECONDS,
                    check=False,
                )
        shutil.rmtree(self.root, ignore_errors=True)

    # --- data ----------------------------------------------------------------------------

    async def create_database(self, name: str) -> None:
        """``CREATE DATABASE`` on the primary; the replica gets it by replication."""
        admin = await asyncpg.connect(_asyncpg_dsn(self.primary_port), timeout=10)
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    async def wait_for_replay(self, within: float = REPLAY_SECONDS) -> None:
        """Return once the replica has replayed everything the primary had written when this
        was called (its ``pg_current_wal_lsn()``), polling; ``TimeoutError`` after ``within``
        seconds. With the apply delay this takes about that delay after the last commit; a
        replica that is down or starting is waited for within the same bound."""
        primary = await asyncpg.connect(_asyncpg_dsn(self.primary_port), timeout=10)
        try:
            target: str = await primary.fetchval("SELECT pg_current_wal_lsn()::text")
        finally:
            await primary.close()
        progress = _Progress()
        try:
            async with asyncio.timeout(within):
                while True:
                    if await self._replayed(target, progress):
                        return
                    await asyncio.sleep(POLL_SECONDS)
        except TimeoutError:
            raise TimeoutError(
                f"the replica had not replayed up to {target} within {within} s"
                f" (replayed: {progress.replayed}, last error: {progress.error!r})\n{self.logs()}"
            ) from None

    async def _replayed(self, target: str, progress: _Progress) -> bool:
        """Whether the replica has replayed up to ``target``; polls on one connection while
        it stays up, so most checks are one round trip."""
        try:
            replica = await asyncpg.connect(_asyncpg_dsn(self.replica_port), timeout=5)
        except _REPLICA_AWAY as error:  # down, or still starting
            progress.error = error
            return False
        try:
            while True:
                row = await replica.fetchrow(
                    "SELECT pg_last_wal_replay_lsn()::text AS replayed,"
                    " pg_last_wal_replay_lsn() >= $1::text::pg_lsn AS caught_up",
                    target,
                )
                assert row is not None
                progress.replayed = row["replayed"]
                if row["caught_up"]:
                    return True
                await asyncio.sleep(POLL_SECONDS)
        except _REPLICA_AWAY as error:  # stopped while we polled
            progress.error = error
            return False
        finally:
            await replica.close()

    # --- faults --------------------------------------------------------------------------

    @contextmanager
    def replica_hung(self) -> Iterator[None]:
        """Every process of the replica stopped (SIGSTOP): its postmaster (from its pid file)
        first, so it starts none we would miss, then each it started. All are continued
        (SIGCONT) when the block ends."""
        postmaster = int((self.replica_data / "postmaster.pid").read_text().split()[0])
        stopped: list[int] = []
        try:
            os.kill(postmaster, signal.SIGSTOP)
            stopped.append(postmaster)
            for pid in _children(postmaster):
                with suppress(ProcessLookupError):  # ended meanwhile
                    os.kill(pid, signal.SIGSTOP)
                    stopped.append(pid)
            yield
        finally:
            for pid in reversed(stopped):
                _continue(pid)

    @asynccontextmanager
    async def replication_cut(self) -> AsyncIterator[None]:
        """The replica without a WAL receiver (its ``primary_conninfo`` emptied and reloaded)
        from the moment the block starts; given back when it ends (the receiver reconnects
        and catches up from the slot: ``wait_for_replay`` to be sure it has)."""
        replica = await asyncpg.connect(_asyncpg_dsn(self.replica_port), timeout=10)
        try:
            conninfo: str = await replica.fetchval("SHOW primary_conninfo")
            await _set_primary_conninfo(replica, "")

            async def receiver_gone() -> bool:
                return not await replica.fetchval("SELECT count(*) FROM pg_stat_wal_receiver")

            await eventually(receiver_gone)
            try:
                yield
            finally:
                await _set_primary_conninfo(replica, conninfo)
        finally:
            await replica.close()

    @asynccontextmanager
    async def receiver_stalled(self) -> AsyncIterator[None]:
        """The replica's WAL receiver stopped (SIGSTOP) while connected: the replica shows a
        receiver and gets nothing. Continued when the block ends."""
        replica = await asyncpg.connect(_asyncpg_dsn(self.replica_port), timeout=10)
        try:
            pid = await replica.fetchval("SELECT pid FROM pg_stat_wal_receiver")
        finally:
            await replica.close()
        assert pid is not None, "the replica has no WAL receiver to stall"
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            _continue(pid)

    # --- commands ------------------------------------------------------------------------

    def _tool(self, tool: str, *args: str) -> list[str]:
        return [*self._prefix, str(self.bindir / tool), *args]

    def _ctl(self, name: str, *args: str) -> list[str]:
        folder = self.root / name
        log = self.root / f"{name}.log"
        return self._tool("pg_ctl", "-D", str(folder), "-l", str(log), "-t", "60", *args)

    @staticmethod
    def _append_settings(data: Path, settings: dict[str, str]) -> None:
        """Later lines win in postgresql.conf: these override initdb's and the primary's."""
        with (data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
