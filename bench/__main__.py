"""``python -m bench [full|quick|smoke]``: run a plan of bench/cases.py, print the table and
write it, with the chart, to bench/results/. smoke (CI) exits 1 unless it served requests with
zero errors."""

import argparse
import dataclasses
import shutil
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.cases import PLANS
from bench.run import Run

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"  # git-ignored


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("plan", nargs="?", default="full", choices=list(PLANS))
    parser.add_argument("--seconds", type=int, help="per case, instead of the plan's")
    parser.add_argument("--repetitions", type=int, help="instead of the plan's")
    args = parser.parse_args()
    plan = PLANS[args.plan]
    plan = dataclasses.replace(
        plan,
        seconds=args.seconds or plan.seconds,
        repetitions=args.repetitions or plan.repetitions,
    )
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-") as workdir:
        results = Run(plan, BENCH.parent, Path(workdir)).execute()
    table = report.render(results)
    print(table)
    stem = "latest" if plan.name == "full" else plan.name
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    if plan.name == "smoke":  # CI: a verdict, and no chart (no matplotlib there)
        runs = [run for runs in results.wrk.values() for run in runs]
        requests, errors = sum(run.requests for run in runs), sum(run.errors for run in runs)
        print(f"bench smoke: {requests} requests, {errors} errors")
        return 0 if requests > 0 and errors == 0 else 1
    from bench import chart  # matplotlib: a bench-only dependency (bench/requirements.txt)

    chart.draw(results, RESULTS / f"{stem}.png")
    if plan.name == "full":
        shutil.copyfile(RESULTS / "latest.png", BENCH / "chart.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
