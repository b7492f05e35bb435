#!/usr/bin/env bash
# The drop dashboard's charts (static/js/dashboard.js): uPlot, pinned, into
# static/vendor/uplot/<version>/ (scripts/vendor-npm.sh). MIT.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
exec "$ROOT/scripts/vendor-npm.sh" uplot 1.6.32 \
  "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==" \
  "${1:-$ROOT/static/vendor/uplot/1.6.32}" dist/uPlot.iife.min.js dist/uPlot.min.css
