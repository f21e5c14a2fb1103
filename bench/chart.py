"""The PNG: requests/s per endpoint and comparator, one panel per database and connection
count, the spread of the repetitions as error bars."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.run import Results, median


def draw(results: Results, path: Path) -> None:
    plan = results.plan
    databases = list(dict.fromkeys(target.database for target in plan.targets))
    names = list(dict.fromkeys(target.name for target in plan.targets))  # a colour each
    figure, axes = plt.subplots(
        len(databases),
        len(plan.connections),
        figsize=(6.5 * len(plan.connections), 4.2 * len(databases)),
        squeeze=False,
    )
    for row, database in enumerate(databases):
        shown = [target for target in plan.targets if target.database == database]
        width = 0.8 / len(shown)
        for column, conns in enumerate(plan.connections):
            axis = axes[row][column]
            for index, target in enumerate(shown):
                values = [
                    [case.wrk.rps for case in results.cases_of(target, endpoint, conns)] or [0.0]
                    for endpoint in plan.endpoints
                ]
                middle = [median(rps) for rps in values]
                spread = [
                    [mid - min(rps) for mid, rps in zip(middle, values, strict=True)],
                    [max(rps) - mid for mid, rps in zip(middle, values, strict=True)],
                ]
                offset = (index - (len(shown) - 1) / 2) * width
                axis.bar(
                    [position + offset for position in range(len(plan.endpoints))],
                    middle,
                    width,
                    yerr=spread,
                    capsize=2,
                    label=target.name,
                    color=f"C{names.index(target.name)}",
                )
            axis.set_xticks(range(len(plan.endpoints)), [e.label for e in plan.endpoints])
            axis.tick_params(axis="x", labelsize=8)
            axis.set_ylabel("requests/s")
            axis.set_title(f"{database}, {conns} connections", fontsize=10)
            axis.legend(fontsize=7)
            axis.grid(axis="y", alpha=0.3)
    figure.suptitle(
        f"Stockroom vs baselines, requests/s (median of {plan.repetitions}; bars: min-max)\n"
        + "; ".join(results.machine.split("; ")[:3]),
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
