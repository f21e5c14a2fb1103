"""Which machine and software the figures came from."""

from __future__ import annotations

import asyncio
import hashlib
import os
import platform
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.databases import ADMIN_URL


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=10)
    except OSError:
        return "not found"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


async def _postgres_version() -> str:
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def code_version(repo: Path) -> str:
    """The commit, and whether tracked files differed from it: servers start throughout a
    run, so a change made during the run would be measured by some comparators only."""
    commit = _first_line(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    diff = subprocess.run(
        ["git", "-C", str(repo), "diff", "HEAD", "--", ".", ":(exclude)bench"],
        capture_output=True,
        check=False,
    ).stdout
    if not diff:
        return commit
    return f"{commit} + uncommitted changes (diff {hashlib.sha256(diff).hexdigest()[:8]})"


def describe(repo: Path, *, postgres: bool) -> dict[str, str]:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": code_version(repo),
        "cpu": f"{_cpu_model()}, {os.cpu_count()} cores",
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": asyncio.run(_postgres_version()) if postgres else "not used",
        "sqlite": sqlite3.sqlite_version,
        "wrk": _first_line(["wrk", "-v"]).split("Copyright")[0].strip(),
        "load average at start": load_average(),
    }
