"""``make run`` installs the service alone, everything else the development toolchain too
(issue 24): what ``make -n`` would do, in a virtualenv folder of the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make")
SERVE = "stockroom serve"


def planned(target: str, venv: Path) -> list[str]:
    """The commands ``make target`` would run with ``venv`` as the virtualenv."""
    assert MAKE is not None, "make is needed to build and run the project"
    run = subprocess.run(  # noqa: S603 - the project's own Makefile, dry run
        [MAKE, "-n", "-C", str(REPO), f"VENV={venv}", target],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in run.stdout.splitlines() if not line.startswith("make")]


def installs(commands: list[str]) -> list[str]:
    return [command.split("-c constraints.txt ")[1] for command in commands if "-e " in command]


def test_run_installs_the_service_without_the_development_toolchain(tmp_path: Path) -> None:
    commands = planned("run", tmp_path / "venv")

    assert installs(commands) == ["-e ."]
    assert SERVE in commands[-1]


@pytest.mark.parametrize("target", ["unit", "lint", "integration"])
def test_the_other_targets_install_the_development_toolchain(tmp_path: Path, target: str) -> None:
    assert installs(planned(target, tmp_path / "venv")) == ["-e .", "-e '.[dev]'"]


def test_a_development_install_serves_without_installing_again(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    inputs = [REPO / "pyproject.toml", REPO / "constraints.txt"]
    newer = max(path.stat().st_mtime for path in inputs) + 60
    for stamp in (".installed-runtime", ".installed"):
        (venv / stamp).touch()
        os.utime(venv / stamp, (newer, newer))

    assert [SERVE in command for command in planned("run", venv)] == [True]
