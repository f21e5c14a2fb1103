"""What the drain test needs beyond an HTTP client: requests held open across the signal, and
the processes of a server's process group."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ANSWER_SECONDS = 60.0  # a loaded machine is slow; a hang still fails the test


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any


class HeldRequest:
    """An HTTP/1.1 request whose body the test sends when it chooses: a slow client.

    It asks ``Expect: 100-continue``, and uvicorn answers "100 Continue" the moment the app
    first asks for the body, so once ``open`` returns the request is known to be in the app's
    hands, in flight, waiting for its body. ``Connection: close``: the server ends the
    connection after the answer, which is how the answer's end is read.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, port: int, method: str, path: str, headers: dict[str, str]) -> HeldRequest:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        fields = {"Host": "stockroom", "Expect": "100-continue", "Connection": "close", **headers}
        head = f"{method} {path} HTTP/1.1\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in fields.items()) + "\r\n"
        writer.write(head.encode("latin-1"))
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), ANSWER_SECONDS)
        if not interim.startswith(b"HTTP/1.1 100 "):
            writer.close()
            raise AssertionError(f"expected 100 Continue, got {interim!r}")
        return cls(reader, writer)

    async def finish(self, pieces: Sequence[bytes], pause: float = 0.0) -> Answer:
        """Send the body in ``pieces``, ``pause`` seconds before each, and read the answer."""
        try:
            for piece in pieces:
                await asyncio.sleep(pause)  # the client is slow: that is the point
                self._writer.write(piece)
                await self._writer.drain()
            raw = await asyncio.wait_for(self._reader.read(), ANSWER_SECONDS)
        except ConnectionError as error:
            raise AssertionError(f"the server cut the request off: {error!r}") from error
        finally:
            self._writer.close()
        if not raw:
            raise AssertionError("the server closed the connection without answering")
        head, _, body = raw.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return Answer(status, json.loads(body) if body else None)


def live_group_members(pgid: int) -> list[int]:
    """Pids of the processes of group ``pgid`` still running (a zombie has ended: it only
    waits for whoever reaps it, which in a container may be nobody)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # gone meanwhile
        state, process_group = fields[0], int(fields[2])
        if process_group == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")
