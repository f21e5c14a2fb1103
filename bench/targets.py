"""What is benchmarked: each comparator on each database, and how to start it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STOCKROOM = "stockroom"
CEILING = "ceiling"
CLASSIC_SYNC = "classic_sync"
CLASSIC_ASYNC = "classic_async"
LABELS = {
    STOCKROOM: "Stockroom",
    CEILING: "ceiling (raw driver)",
    CLASSIC_SYNC: "classic sync",
    CLASSIC_ASYNC: "classic async",
}
POSTGRES = "postgresql"
SQLITE = "sqlite"


@dataclass(frozen=True)
class Target:
    comparator: str
    backend: str

    @property
    def key(self) -> str:
        return f"{self.comparator}/{self.backend}"

    @property
    def label(self) -> str:
        return f"{LABELS[self.comparator]} ({'PG' if self.backend == POSTGRES else 'SQLite'})"

    def argv(self, repo: Path, port: int, workers: int) -> list[str]:
        where = ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        if self.comparator == STOCKROOM:
            return [str(repo / ".venv/bin/stockroom"), "serve", *where]
        python = str(repo / ".venv/bin/python")
        return [python, "-m", "bench.baselines.serve", self.comparator, *where]


FULL = (
    Target(STOCKROOM, POSTGRES),
    Target(CEILING, POSTGRES),
    Target(CLASSIC_ASYNC, POSTGRES),
    Target(CLASSIC_SYNC, POSTGRES),
    Target(STOCKROOM, SQLITE),
    Target(CEILING, SQLITE),
)
