"""The PNG: requests/s per endpoint and comparator, one panel per database and concurrency,
with the spread of the repetitions as error bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import endpoints, targets
from bench.results import Results, median

COLOURS = {
    targets.STOCKROOM: "#1f77b4",
    targets.CEILING: "#7f7f7f",
    targets.CLASSIC_ASYNC: "#ff7f0e",
    targets.CLASSIC_SYNC: "#d62728",
}


def draw(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    backends = [b for b in (targets.POSTGRES, targets.SQLITE) if _has(results, b)]
    conns = results.plan.connections
    figure, axes = plt.subplots(
        len(backends), len(conns), figsize=(6.5 * len(conns), 4.2 * len(backends)), squeeze=False
    )
    for row, backend in enumerate(backends):
        for column, connections in enumerate(conns):
            _panel(axes[row][column], results, backend, connections)
    machine = results.machine
    figure.suptitle(
        f"Stockroom vs baselines, requests/s (median of {results.plan.repetitions}; bars: "
        f"min-max)\n{machine.get('cpu', '')}, PostgreSQL {machine.get('postgresql', '')}, "
        f"{machine.get('date', '')}",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _has(results: Results, backend: str) -> bool:
    return any(case.target.endswith("/" + backend) for case in results.cases)


def _panel(axis: Any, results: Results, backend: str, connections: int) -> None:
    shown = [t for t in results.plan.targets if t.backend == backend]
    keys = [e for e in endpoints.ALL if e.key in results.plan.endpoints]
    width = 0.8 / max(1, len(shown))
    for index, target in enumerate(shown):
        medians, low, high = [], [], []
        for endpoint in keys:
            values = [c.wrk.rps for c in results.select(target.key, endpoint.key, connections)]
            middle = median(values) if values else 0.0
            medians.append(middle)
            low.append(middle - min(values, default=0.0))
            high.append(max(values, default=0.0) - middle)
        positions = [k + (index - (len(shown) - 1) / 2) * width for k in range(len(keys))]
        axis.bar(
            positions,
            medians,
            width,
            yerr=[low, high],
            capsize=2,
            label=targets.LABELS[target.comparator],
            color=COLOURS[target.comparator],
        )
    axis.set_xticks(range(len(keys)), [e.label for e in keys], fontsize=8)
    axis.set_ylabel("requests/s")
    db = "PostgreSQL" if backend == targets.POSTGRES else "SQLite"
    axis.set_title(f"{db}, {connections} connections", fontsize=10)
    axis.legend(fontsize=7)
    axis.grid(axis="y", alpha=0.3)
