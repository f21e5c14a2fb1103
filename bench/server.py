"""One server under test, in a process group of its own: start, readiness, memory, stop."""

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Self


class Server:
    """Started in a new session: stopping it signals exactly its process group."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> None:
        with socket.socket() as sock:  # a port the kernel just handed out on loopback
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.url, self.log = f"http://127.0.0.1:{port}", log
        argv = [*argv, "--host", "127.0.0.1", "--port", str(port)]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, env=env, cwd=cwd, stdout=out, stderr=out, start_new_session=True
            )

    def workers_rss_kib(self) -> list[int]:
        """Each worker's resident memory: the supervisor's children but multiprocessing's
        resource tracker (uvicorn's and Granian's workers alike are spawned children of the
        process started here)."""
        argv = ["ps", "-o", "rss=,args=", "--ppid", str(self.process.pid)]
        out = subprocess.run(argv, capture_output=True, text=True).stdout.splitlines()
        return [int(line.split()[0]) for line in out if "resource_tracker" not in line]

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])

    def wait_ready(self, path: str, workers: int, timeout: float = 60.0) -> None:
        """Until ``path`` answers 200 and every worker has started."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with contextlib.suppress(OSError):
                urllib.request.urlopen(self.url + path, timeout=2).close()
                if len(self.workers_rss_kib()) >= workers:
                    time.sleep(0.5)  # one worker answering: the other may still be starting
                    return
        raise RuntimeError(f"the server did not start:\n{self.log_tail()}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        """SIGTERM to the group, SIGKILL if it lingers; then wait until every worker is gone,
        before the next server binds or this one's database is dropped."""
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
