"""The database limit: pgbench running the order transaction at the same client count."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.baselines.common import ORDER_STATUS
from bench.databases import PgServer

SCRIPT = Path(__file__).with_name("pgbench_order.sql")


@dataclass(frozen=True)
class PgbenchResult:
    clients: int
    tps: float
    latency_ms: float
    failed: int


def run(
    server: PgServer,
    database: str,
    *,
    clients: int,
    seconds: int,
    customer_id: int,
    item_count: int,
    threads: int = 2,
) -> PgbenchResult:
    binary = shutil.which("pgbench")
    if binary is None:
        raise RuntimeError("pgbench is not installed (Debian: postgresql-client)")
    argv = [
        binary,
        "--no-vacuum",
        "--protocol=prepared",  # asyncpg prepares its statements too
        f"--client={clients}",
        f"--jobs={threads}",
        f"--time={seconds}",
        f"--file={SCRIPT}",
        f"--define=customer={customer_id}",
        f"--define=items={item_count}",
        f"--define=status={ORDER_STATUS}",
        f"--host={server.host}",
        f"--port={server.port}",
        f"--username={server.user}",
        database,
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
    return parse(done.stdout, clients)


def parse(text: str, clients: int) -> PgbenchResult:
    tps = re.search(r"^tps = ([\d.]+)", text, re.MULTILINE)
    latency = re.search(r"^latency average = ([\d.]+) ms", text, re.MULTILINE)
    failed = re.search(r"^number of failed transactions: (\d+)", text, re.MULTILINE)
    if tps is None:
        raise RuntimeError(f"no tps in pgbench output:\n{text}")
    return PgbenchResult(
        clients=clients,
        tps=float(tps.group(1)),
        latency_ms=float(latency.group(1)) if latency else float("nan"),
        failed=int(failed.group(1)) if failed else 0,
    )
