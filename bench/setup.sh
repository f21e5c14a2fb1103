#!/usr/bin/env bash
# Installs what the benchmarks need and `make install` does not: wrk and psql (Debian's
# packages) and bench/requirements.txt (into the venv). Quiet when everything is there.
# BENCH_SMOKE=1: wrk only; BENCH_IMPORT=1: psql only.
set -euo pipefail
cd "$(dirname "$0")/.."
need() {  # command, Debian package
  command -v "$1" >/dev/null && return
  echo "bench: installing $2 from Debian's packages"
  apt-get install -y -q "$2" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$2" >/dev/null; }
}
if [[ "${BENCH_IMPORT:-0}" == 1 ]]; then  # the import bench needs psql only
  need psql postgresql-client
  exit 0
fi
need wrk wrk
[[ "${BENCH_SMOKE:-0}" == 1 ]] && exit 0  # the smoke case (CI) needs wrk only
need psql postgresql-client
STAMP="${VENV:-.venv}/.bench-installed"
if [[ ! -f "$STAMP" || bench/requirements.txt -nt "$STAMP" ]]; then
  echo "bench: installing bench/requirements.txt into ${VENV:-.venv}"
  "${VENV:-.venv}/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -r bench/requirements.txt
  touch "$STAMP"
fi
