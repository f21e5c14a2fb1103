"""``python -m bench [full|quick|smoke]``: run a plan, print the table, write the results.

full   `make bench`: every case, 3 repetitions, 32 and 64 connections (about 23 minutes).
quick  `make bench-quick`: every target and endpoint, 2 s per case, 32 connections, once.
smoke  `make bench-smoke` (CI): one short GET on Stockroom + SQLite; exits 1 unless it
       served requests with zero errors. Needs no PostgreSQL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bench import report
from bench.cases import PLANS
from bench.run import Run

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"  # git-ignored


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("plan", nargs="?", default="full", choices=list(PLANS))
    plan = PLANS[parser.parse_args().plan]
    with tempfile.TemporaryDirectory(prefix="stockroom-bench-") as workdir:
        results = Run(plan, REPO, Path(workdir)).execute()
    table = report.render(results)
    print(table)
    stem = "latest" if plan.name == "full" else plan.name
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    if plan.name == "smoke":  # CI: no chart (no matplotlib there), a verdict instead
        requests = sum(case.wrk.requests for case in results.cases)
        errors = sum(case.wrk.errors for case in results.cases)
        ok = requests > 0 and errors == 0
        print(f"bench smoke: {requests} requests, {errors} errors: {'ok' if ok else 'FAILED'}")
        return 0 if ok else 1
    from bench import chart  # matplotlib is a bench-only dependency

    chart.draw(results, RESULTS / f"{stem}.png")
    if plan.name == "full":
        shutil.copyfile(RESULTS / "latest.png", REPO / "bench" / "chart.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
