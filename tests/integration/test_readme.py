"""The README runs as written: its tour, then its PostgreSQL section, block by block.

Every ```bash block of README.md and docs/ runs (a block only to be read is ```sh), in the
sections ``TOUR`` and ``POSTGRESQL`` name. The tour's blocks run in that order, in one bash
session, in an empty folder holding only a link to this checkout's ``.venv``, against a real
``stockroom serve`` started there with no ``STOCKROOM_*`` setting at all: exactly a
newcomer's `make run` on a fresh embedded database. The PostgreSQL section then runs on a
database of its own (the block creates it; the test drops it).

What is checked, per command: a comment with ``→`` right after it (or at the end of its last
line) says what it answers, and the comment lines right after that one continue it. For
``curl``: the HTTP status (every ``curl`` without one must answer 2xx), the headers shown,
and the JSON body shown, which must have the real answer's shape: the same keys in every
object, the same values, the same length of every list, all the way down. ``...`` marks
what may differ: as a value, anything (ids, timestamps, tokens, cursors: whatever changes
from run to run); as the last member of an object or list, members not shown; in a header's
value, any text (the grammar: ``tests/readme_answers.py``). For other commands: the exit
status (0, unless ``→ exit N``) and, otherwise, the text after ``→``, which must be in what
it printed. ``localhost:8000`` becomes the test server's address, in commands and answers
alike; ``stockroom serve`` is started in the background, and the next command waits until it
answers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests import readme_answers
from tests.integration.servers import free_port, stockroom_serve

ROOT = Path(__file__).resolve().parents[2]
ARROW = "→"
EXIT = re.compile(r"^exit (\d+)\b")
HEADING = re.compile(r"^(#{1,6}) ")


@dataclass(frozen=True)
class Part:
    """A section of a Markdown file: from ``heading`` down to the next heading of its level
    or above (its subsections included)."""

    path: str  # from the checkout's root
    heading: str  # the whole heading line, e.g. "## A short tour"


# The tour: one session, in this order (later parts use what earlier ones created: Ann's
# token, the items' ids).
TOUR = (
    Part("README.md", "## A short tour"),
    Part("README.md", "## Pagination and filters"),
    Part("README.md", "## Scripts"),
    Part("README.md", "## Generated clients"),
    Part("docs/security.md", "## Accounts"),
    Part("docs/cli.md", "## Importing a supplier's file"),
)
POSTGRESQL = (Part("README.md", "## PostgreSQL"),)


@dataclass(frozen=True)
class Command:
    text: str  # as written, continuation lines included
    expected: str  # what follows the arrow (and the comment lines continuing it), or ""
    where: str  # file:line

    @property
    def is_curl(self) -> bool:
        return self.text.lstrip().startswith("curl") or "$(curl" in self.text

    @property
    def is_serve(self) -> bool:
        return " serve" in self.text and self.text.lstrip().startswith(".venv/bin/stockroom")


def section(part: Part) -> tuple[str, int]:
    """The text of ``part``, and the line of its file it starts on."""
    lines = (ROOT / part.path).read_text().splitlines()
    level = len(part.heading.split(" ", 1)[0])
    in_code, start = False, None
    for number, line in enumerate(lines):
        if line.startswith("```"):
            in_code = not in_code
            continue
        heading = None if in_code else HEADING.match(line)
        if start is None:
            if line == part.heading and not in_code:
                start = number
        elif heading and len(heading.group(1)) <= level:
            return "\n".join(lines[start:number]), start + 1
    if start is None:
        raise AssertionError(f"{part.path} has no heading {part.heading!r}")
    return "\n".join(lines[start:]), start + 1


def commands(part: Part) -> list[Command]:
    """The commands of every ```bash block in ``part``, each with its expectation."""
    text, first_line = section(part)
    found: list[Command] = []
    current: list[str] = []  # the lines of a command continued with a backslash
    in_block, start, continuing = False, 0, False
    for number, line in enumerate(text.splitlines(), first_line):
        if line.startswith("```"):
            in_block, continuing = line == "```bash", False
            continue
        if not in_block:
            continue
        if line.lstrip().startswith("#"):  # a comment line: the previous command's answer
            comment = line.lstrip()[1:].strip()
            last = found[-1] if found else None
            if last is not None and ARROW in line and not continuing:
                found[-1] = Command(last.text, _after_arrow(line), last.where)
                continuing = True
            elif last is not None and continuing:
                found[-1] = Command(last.text, f"{last.expected}\n{comment}", last.where)
            continue
        continuing = False
        if not current:
            start = number
        current.append(line)
        if line.endswith("\\"):
            continue
        command_text = "\n".join(current)
        expected = _trailing_expectation(command_text)
        found.append(Command(command_text, expected, f"{part.path}:{start}"))
        continuing = bool(expected)
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
    headers: list[tuple[str, str]]  # of the step's last HTTP answer


def run_session(commands: list[Command], folder: Path, env: dict[str, str], port: int) -> None:
    """Every command in one bash session; each one's output, exit status and HTTP statuses
    (``curl`` is wrapped to dump its headers to a file per call) are then checked in turn."""
    headers = folder / "headers"
    headers.mkdir()
    script = [
        "set -u",
        f'curl() {{ command curl -D "{headers}/$README_STEP.$BASHPID.$RANDOM" "$@"; }}',
    ]
    here = f"127.0.0.1:{port}"
    local = [
        Command(
            command.text.replace("localhost:8000", here),
            command.expected.replace("localhost:8000", here),
            command.where,
        )
        for command in commands
    ]
    for step, command in enumerate(local):
        script.append(f"README_STEP={step}; printf '\\n@@start {step}@@\\n'")
        if command.is_serve:  # in the background, as another terminal would; stopped by pid
            script.append(f"{command.text} --port {port} > serve.log 2>&1 &\necho $! > serve.pid")
            script.append(_wait_until_serving(port))
        else:
            script.append(f"{command.text} 2>&1")
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
    outcomes = _outcomes(done.stdout, headers)
    failures = [
        failure
        for step, command in enumerate(local)
        if (failure := check(command, outcomes.get(step), done.stdout + done.stderr))
    ]
    assert not failures, f"{len(failures)} of {len(local)} commands differ:\n\n" + "\n\n".join(
        failures
    )


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


def _outcomes(stdout: str, headers: Path) -> dict[int, Outcome]:
    outcomes: dict[int, Outcome] = {}
    for match in re.finditer(r"@@start (\d+)@@\n(.*?)\n@@end \1 (\d+)@@", stdout, re.S):
        step = int(match.group(1))
        heads = [
            file.read_text()
            for file in sorted(headers.glob(f"{step}.*"), key=lambda file: file.stat().st_mtime)
            if file.read_text().strip()
        ]
        statuses = [int(head.split()[1]) for head in heads]
        last = readme_answers.parse_headers(heads[-1]) if heads else []
        outcomes[step] = Outcome(match.group(2), int(match.group(3)), statuses, last)
    return outcomes


def check(command: Command, outcome: Outcome | None, transcript: str) -> str:
    """What is wrong with ``command``'s outcome, or "" when it answered as written."""
    where = f"{command.where}: {command.text}"
    if outcome is None:
        return f"{where}\nnever ran; the session said:\n{transcript[-3000:]}"
    said = f"{where}\nanswered:\n{outcome.output}"
    expected = command.expected
    if command.is_curl:
        return _check_http(expected, outcome, said)
    wanted_exit = EXIT.match(expected)
    if outcome.exit_code != (int(wanted_exit.group(1)) if wanted_exit else 0):
        return f"{said}\nexit status {outcome.exit_code}"
    if expected and not wanted_exit and expected not in outcome.output:
        return f"{said}\nwhich does not contain: {expected}"
    return ""


def _check_http(expected: str, outcome: Outcome, said: str) -> str:
    if outcome.exit_code != 0:
        return f"{said}\ncurl's exit status {outcome.exit_code}"
    if not outcome.statuses:
        return f"{said}\n(no HTTP answer)"
    answer = readme_answers.parse(expected)
    status = outcome.statuses[-1]
    if answer.status is not None and status != answer.status:
        return f"{said}\nstatus {status}, not {answer.status}"
    if answer.status is None and not 200 <= status < 300:
        return f"{said}\nstatus {status}"
    problems = readme_answers.header_differences(answer.headers, outcome.headers)
    if answer.shows_body:
        _, body = readme_answers.split_response(outcome.output)
        try:
            real = json.loads(body)
        except ValueError:
            return f"{said}\nwhich is no JSON body"
        problems += readme_answers.differences(answer.body, real)
    return f"{said}\n" + "\n".join(problems) if problems else ""


def newcomer_folder(tmp_path: Path) -> Path:
    """An empty folder with only the checkout's ``.venv`` in it: ``.venv/bin/stockroom``
    resolves as in the README, and the embedded database and secret land here."""
    folder = tmp_path / "newcomer"
    folder.mkdir()
    (folder / ".venv").symlink_to(ROOT / ".venv")
    return folder


def newcomer_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("STOCKROOM_")}


def test_every_bash_block_is_run() -> None:
    """A ```bash block outside the parts this test runs would be a command nobody checks."""
    covered = {(part.path, line) for part in TOUR + POSTGRESQL for line in _block_lines(part)}
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    unchecked = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in documents
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line == "```bash" and (str(path.relative_to(ROOT)), number) not in covered
    ]
    assert not unchecked, (
        f"```bash blocks this test does not run (```sh if only to read): {unchecked}"
    )


def _block_lines(part: Part) -> list[int]:
    text, first_line = section(part)
    return [
        number for number, line in enumerate(text.splitlines(), first_line) if line == "```bash"
    ]


def test_the_tour_runs_as_written(tmp_path: Path) -> None:
    tour = [command for part in TOUR for command in commands(part)]
    assert len(tour) > 30, "the tour lost its commands"
    folder = newcomer_folder(tmp_path)
    with stockroom_serve({}, folder) as base:  # `make run`, on a port of its own
        port = int(base.rsplit(":", 1)[1])
        run_session(tour, folder, newcomer_env(), port)


@pytest.mark.postgres
def test_the_postgresql_section_runs_as_written(tmp_path: Path, postgres_url: str) -> None:
    if shutil.which("psql") is None:
        pytest.fail("psql is missing: install postgresql-client (the README uses it)")
    steps = [command for part in POSTGRESQL for command in commands(part)]
    assert steps, "the PostgreSQL section lost its commands"
    server = make_url(postgres_url)
    name = f"stockroom_readme_{uuid.uuid4().hex[:10]}"
    ours = f"{server.username}@{server.host}:{server.port}"
    renamed = [
        Command(
            command.text.replace("postgres@127.0.0.1:5432", ours)
            .replace("DATABASE stockroom", f"DATABASE {name}")
            .replace(f"{ours}/stockroom", f"{ours}/{name}"),
            command.expected,
            command.where,
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
