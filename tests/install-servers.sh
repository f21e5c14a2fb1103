#!/usr/bin/env bash
# What the integration suite starts for itself, from Debian's packages when it is missing:
# PgBouncer (tests/integration/servers.py), HAProxy (tests/integration/topology.py) and a
# headless Chromium that opens the API docs
# (tests/integration/test_docs_browser.py). Quiet when everything is there. It installs as
# root, or through sudo where sudo needs no password; anywhere else (no apt, or no way to
# become root) it says what to install and carries on, and the tests that need it skip
# locally and fail in CI.
set -euo pipefail
as_root=()
if [[ $(id -u) -ne 0 ]]; then
  as_root=(sudo -n)
fi
can_install() {
  command -v apt-get >/dev/null || return 1
  [[ ${#as_root[@]} -eq 0 ]] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null; }
}
need() {  # command (also looked for in /usr/sbin), Debian package
  command -v "$1" >/dev/null || [[ -x "/usr/sbin/$1" ]] && return
  if ! can_install; then
    echo "tests: $1 is missing; install Debian's $2 package to run the tests that need it" >&2
    return
  fi
  echo "tests: installing $2 from Debian's packages"
  local install=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$2")
  "${install[@]}" >/dev/null 2>&1 || { "${as_root[@]}" apt-get update -q >/dev/null && "${install[@]}" >/dev/null; }
}
need pgbouncer pgbouncer
need haproxy haproxy  # the balancer of the availability scenarios (tests/integration/topology.py)
need chromium chromium
