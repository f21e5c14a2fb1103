"""Processes: free ports, server lifecycles, and what /proc says about memory and CPU."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A port the kernel just handed out on loopback; nothing else of ours binds in between."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    pending, seen = children(pid), []
    while pending:
        child = pending.pop()
        seen.append(child)
        pending += children(child)
    return seen


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return ""


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError):
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    with contextlib.suppress(OSError, IndexError):
        fields = _stat_fields(pid)
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return 0.0


def machine_busy_seconds() -> float:
    """CPU time all cores have spent not idle since boot (user, nice, system, irq, steal)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def reaped_children_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the children ``pid`` has waited for (they have exited)."""
    with contextlib.suppress(OSError, IndexError):
        fields = _stat_fields(pid)
        return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
    return 0.0


def postgres_cpu(database: str | None) -> dict[int, float]:
    """CPU time so far of the PostgreSQL processes that work for ``database``: its backends
    and the server's own background processes, not other databases' backends (someone
    else's tests on the same server are not ours to count).

    A backend that exits during a case (a connection closed by a churning pool) is gone from
    /proc by the end; its CPU is still counted, through the postmaster, which reaps it, under
    the key ``-postmaster_pid`` (whatever database it served: /proc does not say)."""
    found: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if (entry / "comm").read_text().strip() != "postgres":
                continue
            title = cmdline(int(entry.name))
            # A backend's title is "postgres: 15/main: USER DATABASE HOST(PORT) STATE".
            is_backend = "(" in title and ")" in title
            if not is_backend or (database is not None and f" {database} " in title):
                found[int(entry.name)] = cpu_seconds(int(entry.name))
            if not is_backend and (reaped := reaped_children_cpu_seconds(int(entry.name))):
                found[-int(entry.name)] = reaped
    return found


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used in between by the processes alive at the end (new ones count from zero)."""
    return sum(max(0.0, spent - before.get(pid, 0.0)) for pid, spent in after.items())


def worker_pids(server_pid: int) -> list[int]:
    """uvicorn's worker processes: the spawned children, not multiprocessing's resource tracker."""
    return [pid for pid in descendants(server_pid) if "resource_tracker" not in cmdline(pid)]


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def workers(self) -> list[int]:
        return worker_pids(self.process.pid)

    def rss(self) -> int:
        return sum(rss_bytes(pid) for pid in self.workers)

    def cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers)

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def start_server(
    name: str, argv: list[str], env: Mapping[str, str], port: int, log_path: Path, cwd: Path
) -> Server:
    log = log_path.open("wb")
    process = subprocess.Popen(
        argv,
        env=dict(env),
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: we stop exactly what we started
    )
    log.close()
    return Server(name=name, process=process, url=f"http://127.0.0.1:{port}", log_path=log_path)


def wait_ready(server: Server, path: str, workers: int, timeout: float = 60.0) -> None:
    """Until ``path`` answers 200 and every worker has started (each binds its own loop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.log_tail()}")
        if len(server.workers) >= workers and _answers(server.url + path):
            # One answering worker does not mean both are up: give the other a moment to
            # finish its own start-up, then check it is still there.
            time.sleep(0.5)
            if len(server.workers) >= workers:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name} not ready after {timeout:.0f}s:\n{server.log_tail()}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def stop_server(server: Server, timeout: float = 15.0) -> None:
    """SIGTERM to the server's own process group, SIGKILL if it lingers."""
    pgid = server.process.pid  # start_new_session made it the group leader
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=wait)
            break
    # Workers must be gone too before the next server binds or its database is dropped.
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and _group_alive(pgid):
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        stop_server(server)
