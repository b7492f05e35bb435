#!/usr/bin/env bash
# PgBouncer (Debian's package) for the scale-out topology and its tests (docs/scale-out.md).
#   scripts/pgbouncer.sh install   install pgbouncer if missing (`make test` needs it)
# devstack/pgbouncer.py writes each instance's config and runs it; Debian's own service stays off.
set -euo pipefail
export PATH="$PATH:/usr/sbin"

install() {
  command -v pgbouncer >/dev/null 2>&1 && return 0
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "installing Debian's pgbouncer for the scale-out tests"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
  # The package starts a system instance on 6432; ours run per stack on free ports.
  { command -v systemctl >/dev/null 2>&1 && $sudo systemctl disable --now pgbouncer >/dev/null 2>&1; } || true
  $sudo pkill -x pgbouncer >/dev/null 2>&1 || true
}

case "${1:-install}" in
  install) install ;;
  *) echo "usage: $0 install" >&2; exit 2 ;;
esac
