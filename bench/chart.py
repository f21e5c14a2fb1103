"""The PNG: requests/s per endpoint and comparator, one panel per database and connection
count, the spread of the repetitions as error bars."""

from pathlib import Path
from statistics import median

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.run import Results


def draw(results: Results, path: Path) -> None:
    plan = results.plan
    databases = list(dict.fromkeys(target.database for target in plan.targets))
    names = list(dict.fromkeys(target.name for target in plan.targets))  # a colour each
    rows, columns = len(databases), len(plan.connections)
    labels = [endpoint.label for endpoint in plan.endpoints]
    figure, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.2 * rows), squeeze=False)
    for row, database in enumerate(databases):
        shown = [target for target in plan.targets if target.database == database]
        width = 0.8 / len(shown)
        for axis, conns in zip(axes[row], plan.connections, strict=True):
            for index, target in enumerate(shown):
                runs = [
                    [run.rps for run in results.of(target, endpoint, conns)] or [0.0]
                    for endpoint in plan.endpoints
                ]
                middle = [median(rps) for rps in runs]
                low = [mid - min(rps) for mid, rps in zip(middle, runs, strict=True)]
                high = [max(rps) - mid for mid, rps in zip(middle, runs, strict=True)]
                offset = (index - (len(shown) - 1) / 2) * width
                x = [position + offset for position in range(len(labels))]
                colour = f"C{names.index(target.name)}"
                axis.bar(
                    x, middle, width, yerr=[low, high], capsize=2, color=colour, label=target.name
                )
            axis.set_xticks(range(len(labels)), labels, fontsize=8)
            axis.set_ylabel("requests/s")
            axis.set_title(f"{database}, {conns} connections", fontsize=10)
            axis.legend(fontsize=7)
            axis.grid(axis="y", alpha=0.3)
    machine = "; ".join(results.machine.split("; ")[:3])
    title = f"Stockroom vs baselines, requests/s (median of {plan.repetitions}; bars: min-max)"
    figure.suptitle(f"{title}\n{machine}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
