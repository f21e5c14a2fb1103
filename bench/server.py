"""One server under test, in a process group of its own: start, readiness, stop."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Self


def free_port() -> int:
    with socket.socket() as probe:  # a port the kernel just handed out on loopback
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """Started in a new session: stopping it signals exactly its process group."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        port = free_port()
        self.url, self.log = f"http://127.0.0.1:{port}", log
        argv = [*argv, "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=out, start_new_session=True
            )

    def _workers(self) -> int:
        """uvicorn's workers: the supervisor's children but multiprocessing's resource
        tracker."""
        argv = ["ps", "-o", "args=", "--ppid", str(self.process.pid)]
        out = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
        return sum("resource_tracker" not in line for line in out)

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def wait_ready(self, path: str, workers: int, timeout: float = 60.0) -> None:
        """Until ``path`` answers 200 and every worker has started."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + path, timeout=2).close()
                if self._workers() >= workers:
                    time.sleep(0.5)  # one worker answering: the other may still be starting
                    return
        raise RuntimeError(f"the server did not start:\n{self.log_tail()}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        """SIGTERM to the group, SIGKILL if it lingers; then wait until every worker is gone,
        before the next server starts or this one's database is dropped."""
        for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=wait)
                break
        with contextlib.suppress(ProcessLookupError):  # raised once the group is empty
            for _ in range(50):
                os.killpg(self.process.pid, 0)
                time.sleep(0.1)
