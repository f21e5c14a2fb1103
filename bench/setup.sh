#!/usr/bin/env bash
# Installs what the benchmarks need and `make install` does not: wrk (Debian) and the
# bench-only Python packages (into .venv). Idempotent and quiet when everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if ! command -v wrk >/dev/null 2>&1; then
  echo "bench: installing wrk from Debian's packages"
  apt-get install -y -q wrk >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }
fi
# The smoke case (CI) needs wrk only.
[[ "${BENCH_SMOKE:-0}" == 1 ]] && exit 0

if ! command -v pgbench >/dev/null 2>&1; then
  echo "bench: installing postgresql-client (pgbench) from Debian's packages"
  apt-get install -y -q postgresql-client >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q postgresql-client >/dev/null; }
fi

STAMP="$VENV/.bench-installed"
if [[ ! -f "$STAMP" || bench/requirements.txt -nt "$STAMP" ]]; then
  echo "bench: installing bench/requirements.txt into $VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt
  touch "$STAMP"
fi
