"""The unit suite's speed: wall time of ``pytest tests/unit`` (start-up included) and tests/s."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class UnitSuiteResult:
    passed: int
    failed: int
    wall_seconds: float
    pytest_seconds: float  # what pytest itself reports, without interpreter start-up

    @property
    def tests_per_second(self) -> float:
        return self.passed / self.wall_seconds if self.wall_seconds else 0.0


def run(repo: Path) -> UnitSuiteResult:
    argv = [str(repo / ".venv/bin/pytest"), "tests/unit", "-q", "-p", "no:cacheprovider"]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=repo, capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    passed = re.search(r"(\d+) passed", summary)
    failed = re.search(r"(\d+) (?:failed|error)", summary)
    if passed is None:
        raise RuntimeError(f"the unit suite did not run: {summary}\n{done.stdout[-2000:]}")
    seconds = re.search(r"in ([\d.]+)s", summary)
    return UnitSuiteResult(
        passed=int(passed.group(1)),
        failed=int(failed.group(1)) if failed else 0,
        wall_seconds=wall,
        pytest_seconds=float(seconds.group(1)) if seconds else float("nan"),
    )
