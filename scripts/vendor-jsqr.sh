#!/usr/bin/env bash
# The door page's fallback QR decoder (where the browser has no BarcodeDetector, e.g. Debian's
# desktop Chromium): jsQR, pinned, into static/vendor/jsqr/ (scripts/vendor-npm.sh). Apache-2.0.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
exec "$ROOT/scripts/vendor-npm.sh" jsqr 1.4.0 \
  "sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A==" \
  "${1:-$ROOT/static/vendor/jsqr}" dist/jsQR.js
