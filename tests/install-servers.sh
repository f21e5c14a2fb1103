#!/usr/bin/env bash
# The real servers the integration suite starts for itself, from Debian's packages when they
# are missing: PgBouncer (tests/integration/servers.py). Quiet when everything is there; on a
# machine without apt (or not root) it says what to install and carries on, and the tests that
# need it skip locally and fail in CI.
set -euo pipefail
need() {  # command (also looked for in /usr/sbin), Debian package
  command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" ]] && return
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "tests: $1 is missing; install Debian's $2 package to run the tests that need it" >&2
    return
  fi
  echo "tests: installing $2 from Debian's packages"
  apt-get install -y -q "$2" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$2" >/dev/null; }
}
need pgbouncer pgbouncer
