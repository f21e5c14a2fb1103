"""``python -m bench [full|quick|smoke]``: run a plan, print the table, write the results.

full   what `make bench` runs: every case, 3 repetitions, about 22 minutes.
quick  what `make bench-quick` runs: every comparator, 2 s per case, 32 connections, once.
smoke  what CI runs (`make bench-smoke`): one short GET case on Stockroom + SQLite; exits 1
       unless it served requests with zero errors. Needs no PostgreSQL.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from bench import report
from bench.plans import BY_NAME
from bench.runner import Runner

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("plan", nargs="?", default="full", choices=sorted(BY_NAME))
    plan = BY_NAME[parser.parse_args().plan]
    results = Runner(plan, REPO).run()
    table = report.render(results)
    print(table)
    RESULTS.mkdir(exist_ok=True)
    stem = "latest" if plan.name == "full" else plan.name
    (RESULTS / f"{stem}.md").write_text(table + "\n")
    if plan.chart:
        from bench import chart

        chart.draw(results, RESULTS / f"{stem}.png")
        if plan.name == "full":
            shutil.copyfile(RESULTS / "latest.png", REPO / "bench" / "chart.png")
    print(f"\nwritten: {RESULTS / (stem + '.md')}", file=sys.stderr)
    if plan.name == "smoke":
        return _smoke_verdict(results)
    return 0


def _smoke_verdict(results: object) -> int:
    cases = getattr(results, "cases", [])
    requests = sum(case.wrk.requests for case in cases)
    errors = sum(case.wrk.errors for case in cases)
    ok = bool(cases) and requests > 0 and errors == 0
    print(f"bench smoke: {requests} requests, {errors} errors: {'ok' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
