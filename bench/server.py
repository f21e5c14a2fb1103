"""One server under test in its own process group, and what /proc says about it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # after the name, which may hold spaces


def _cmdline(pid: int | str) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def cpu_seconds(pid: int | str) -> float:
    """User + system CPU time the process has used so far."""
    with contextlib.suppress(OSError, IndexError):
        return sum(map(int, _stat(pid)[11:13])) / TICKS
    return 0.0


def machine_busy_seconds() -> float:
    """CPU time every core has spent busy since boot (user, nice, system, irq, softirq, steal)."""
    user, nice, system, _idle, _iowait, *busy = map(
        int, Path("/proc/stat").read_text().split()[1:9]
    )
    return (user + nice + system + sum(busy)) / TICKS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """Started in a new session, so stopping it signals exactly its process group."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [*argv, "--host", "127.0.0.1", "--port", str(self.port)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                env=env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )

    def workers(self) -> list[str]:
        """uvicorn's worker processes: the group minus the supervisor and the resource tracker."""
        leader, found = str(self.process.pid), []
        for pid in (proc.name for proc in Path("/proc").glob("[0-9]*")):
            with contextlib.suppress(OSError, IndexError):
                if (
                    pid != leader
                    and _stat(pid)[2] == leader
                    and "resource_tracker" not in _cmdline(pid)
                ):
                    found.append(pid)
        return found

    def rss(self) -> int:
        return sum(
            int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
            for pid in self.workers()
        )

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.workers())

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def wait_ready(self, path: str, workers: int, timeout: float = 60.0) -> None:
        """Until ``path`` answers 200 and every worker is up (one answering is not enough)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + path, timeout=2).close()
                if len(self.workers()) >= workers:
                    time.sleep(0.5)  # let the other worker finish its start-up too
                    if len(self.workers()) >= workers:
                        return
            time.sleep(0.2)
        raise RuntimeError(f"the server was not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        """SIGTERM to the group, SIGKILL if it lingers; wait for the workers too, before the
        next server binds or this one's database is dropped."""
        group = self.process.pid
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
                break
        with contextlib.suppress(ProcessLookupError):  # raised once the group is empty
            for _ in range(50):
                os.killpg(group, 0)
                time.sleep(0.1)
