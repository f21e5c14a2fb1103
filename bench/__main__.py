"""``python -m bench [full|quick|smoke]``: run a plan of bench/cases.py, print the report and
write it to bench/results/. smoke (CI) exits 1 unless it served requests with zero errors."""

import argparse
import dataclasses
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
    parser.add_argument("--only", action="append", help="targets whose row contains this")
    args = parser.parse_args()
    plan = PLANS[args.plan]
    plan = dataclasses.replace(
        plan,
        seconds=args.seconds or plan.seconds,
        repetitions=args.repetitions or plan.repetitions,
        targets=tuple(
            t for t in plan.targets if not args.only or any(o in t.key for o in args.only)
        ),
    )
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-") as workdir:
        results = Run(plan, BENCH.parent, Path(workdir)).execute()
    text = report.render(results)
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{plan.name}.md").write_text(text + "\n")
    runs = [run for runs in results.wrk.values() for run in runs]
    requests, errors = sum(run.requests for run in runs), sum(run.errors for run in runs)
    print(f"bench {plan.name}: {requests} requests, {errors} errors", file=sys.stderr)
    return 0 if requests > 0 and errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
