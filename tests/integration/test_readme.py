"""The README runs as written: its tour, then its PostgreSQL section, block by block.

Each ```bash block from "## A short tour" down to "### PostgreSQL" runs, in order, in one
bash session, in an empty folder holding only a link to this checkout's ``.venv``, against a
real ``stockroom serve`` started there with no ``STOCKROOM_*`` setting at all: exactly a
newcomer's `make run` on a fresh embedded database. The PostgreSQL section then runs on a
database of its own (the block creates it; the test drops it).

What is checked, per command: a comment with ``→`` says what it answers. For ``curl``: the
HTTP status (every ``curl`` without one must answer 2xx) and each ``"key":value`` pair shown,
which must be somewhere in the JSON answer. For other commands: the exit status (0, unless
``→ exit N``) and, otherwise, the text after ``→``, which must be in what it printed.
``localhost:8000`` becomes the test server's address; ``stockroom serve`` is started in the
background, and the next command waits until it answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from tests.integration.servers import free_port, stockroom_serve

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ARROW = "→"
STATUS = re.compile(r"^(\d{3})\b")
EXIT = re.compile(r"^exit (\d+)\b")
PAIR = re.compile(r'"(\w+)":\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?|null|true|false|\[[^\[\]]*\])')


@dataclass(frozen=True)
class Command:
    text: str  # as in the README, continuation lines included
    expected: str  # what follows the arrow, or ""
    line: int  # in README.md

    @property
    def is_curl(self) -> bool:
        return self.text.lstrip().startswith("curl") or "$(curl" in self.text

    @property
    def is_serve(self) -> bool:
        return " serve" in self.text and self.text.lstrip().startswith(".venv/bin/stockroom")


def section(text: str, start: str, end: str) -> tuple[str, int]:
    """The README between two headings, and the line it starts on."""
    begin = text.index(f"\n{start}\n") + 1
    return text[begin : text.index(f"\n{end}", begin)], text[:begin].count("\n") + 1


def commands(text: str, first_line: int) -> list[Command]:
    """The commands of every ```bash block in ``text``; a comment line right after a command
    (or at the end of its last line) carries its expectation."""
    found: list[Command] = []
    lines = text.splitlines()
    in_block, current, start = False, [], 0
    for number, line in enumerate(lines, first_line):
        if line.startswith("```"):
            in_block = line == "```bash"
            continue
        if not in_block:
            continue
        if line.lstrip().startswith("#"):  # a comment line: the previous command's answer
            if ARROW in line and found:
                last = found[-1]
                found[-1] = Command(last.text, _after_arrow(line), last.line)
            continue
        if not current:
            start = number
        current.append(line)
        if line.endswith("\\"):
            continue
        command_text = "\n".join(current)
        found.append(Command(command_text, _trailing_expectation(command_text), start))
        current = []
    return found


def _after_arrow(comment: str) -> str:
    return comment.split(ARROW, 1)[1].strip()


def _trailing_expectation(command: str) -> str:
    last = command.splitlines()[-1]
    marker = last.rfind("# " + ARROW)
    return _after_arrow(last[marker:]) if marker >= 0 else ""


@dataclass
class Outcome:
    output: str
    exit_code: int
    statuses: list[int]


def run_session(commands: list[Command], folder: Path, env: dict[str, str], port: int) -> None:
    """Every command in one bash session; each one's output, exit status and HTTP statuses
    (``curl`` is wrapped to dump its headers to a file per call) are then checked in turn."""
    headers = folder / "headers"
    headers.mkdir()
    script = [
        "set -u",
        f'curl() {{ command curl -D "{headers}/$README_STEP.$BASHPID.$RANDOM" "$@"; }}',
    ]
    for step, command in enumerate(commands):
        text = command.text.replace("localhost:8000", f"127.0.0.1:{port}")
        script.append(f"README_STEP={step}; printf '\\n@@start {step}@@\\n'")
        if command.is_serve:  # in the background, as another terminal would; stopped by pid
            script.append(f"{text} --port {port} > serve.log 2>&1 &\necho $! > serve.pid")
            script.append(_wait_until_serving(port))
        else:
            script.append(f"{text} 2>&1")
        script.append(f"printf '\\n@@end {step} %d@@\\n' $?")
    try:
        done = subprocess.run(  # noqa: S603 - bash on our own script
            ["/bin/bash", "-c", "\n".join(script)],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
    finally:
        _stop_background_server(folder)
    outcomes = _outcomes(done.stdout, headers, len(commands))
    for step, command in enumerate(commands):
        check(command, outcomes.get(step), done.stdout + done.stderr)


def _wait_until_serving(port: int) -> str:
    return (
        "for _ in $(seq 600); do "
        f"command curl -s -o /dev/null 127.0.0.1:{port}/health/live && break; sleep 0.1; done"
    )


def _stop_background_server(folder: Path) -> None:
    pid_file = folder / "serve.pid"
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, 9)


def _outcomes(stdout: str, headers: Path, count: int) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    for match in re.finditer(r"@@start (\d+)@@\n(.*?)\n@@end \1 (\d+)@@", stdout, re.S):
        step = int(match.group(1))
        statuses = [
            int(file.read_text().split()[1])
            for file in sorted(headers.glob(f"{step}.*"), key=lambda file: file.stat().st_mtime)
            if file.read_text().strip()
        ]
        outcomes[step] = Outcome(match.group(2), int(match.group(3)), statuses)
    return outcomes


def check(command: Command, outcome: Outcome | None, transcript: str) -> None:
    where = f"README.md:{command.line}: {command.text}"
    assert outcome is not None, f"{where}\nnever ran; the session said:\n{transcript[-3000:]}"
    said = f"{where}\nanswered:\n{outcome.output}"
    expected = command.expected
    if command.is_curl:
        assert outcome.exit_code == 0, said
        assert outcome.statuses, f"{said}\n(no HTTP answer)"
        status = outcome.statuses[-1]
        wanted = STATUS.match(expected)
        if wanted:
            assert status == int(wanted.group(1)), f"{said}\nstatus {status}"
        else:
            assert 200 <= status < 300, f"{said}\nstatus {status}"
        _check_pairs(expected, outcome.output, said)
        return
    wanted_exit = EXIT.match(expected)
    assert outcome.exit_code == (int(wanted_exit.group(1)) if wanted_exit else 0), said
    shown = EXIT.sub("", expected).strip() if wanted_exit else expected
    if shown and not wanted_exit:
        assert shown in outcome.output, said


def _check_pairs(expected: str, output: str, said: str) -> None:
    pairs = PAIR.findall(expected)
    if not pairs:
        return
    answer = json.loads(output.strip() or "null")
    present = set(_flatten(answer))
    for key, value in pairs:
        assert (key, json.dumps(json.loads(value))) in present, f"{said}\nno {key}: {value}"


def _flatten(value: Any) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, json.dumps(inner)
            yield from _flatten(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _flatten(inner)


def newcomer_folder(tmp_path: Path) -> Path:
    """An empty folder with only the checkout's ``.venv`` in it: ``.venv/bin/stockroom``
    resolves as in the README, and the embedded database and secret land here."""
    folder = tmp_path / "newcomer"
    folder.mkdir()
    (folder / ".venv").symlink_to(ROOT / ".venv")
    return folder


def newcomer_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    text, first_line = section(README.read_text(), "## A short tour", "### PostgreSQL")
    tour = commands(text, first_line)
    assert len(tour) > 30, "the tour lost its commands"
    folder = newcomer_folder(tmp_path)
    with stockroom_serve({}, folder) as base:  # `make run`, on a port of its own
        port = int(base.rsplit(":", 1)[1])
        run_session(tour, folder, newcomer_env(), port)


@pytest.mark.postgres
def test_the_postgresql_section_runs_as_written(tmp_path: Path, postgres_url: str) -> None:
    if shutil.which("psql") is None:
        pytest.fail("psql is missing: install postgresql-client (the README uses it)")
    text, first_line = section(README.read_text(), "### PostgreSQL", "| setting (env) |")
    steps = commands(text, first_line)
    server = make_url(postgres_url)
    name = f"stockroom_readme_{uuid.uuid4().hex[:10]}"
    ours = f"{server.username}@{server.host}:{server.port}"
    renamed = [
        Command(
            command.text.replace("postgres@127.0.0.1:5432", ours)
            .replace("DATABASE stockroom", f"DATABASE {name}")
            .replace(f"{ours}/stockroom", f"{ours}/{name}"),
            command.expected,
            command.line,
        )
        for command in steps
    ]
    folder = newcomer_folder(tmp_path)
    try:
        run_session(renamed, folder, newcomer_env(), free_port())
    finally:
        admin = f"postgresql://{ours}/postgres"
        subprocess.run(  # noqa: S603 - psql on our own throwaway database
            ["psql", "-q", admin, "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],  # noqa: S607
            capture_output=True,
            timeout=60,
            check=False,
        )
