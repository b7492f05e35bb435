#!/usr/bin/env bash
# Vendors uPlot (the drop dashboard's charts, static/js/dashboard.js) from npm into
# static/vendor/uplot/<version>/: the minified script, its stylesheet, its LICENSE and the
# tarball's integrity. Run once per version bump and commit the result: pages never load a CDN.
# Usage: scripts/vendor-uplot.sh [version]
set -euo pipefail
VERSION="${1:-1.6.32}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/static/vendor/uplot/$VERSION"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack "uplot@$VERSION" --silent >/dev/null
tar -xzf "uplot-$VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css package/LICENSE "$DEST/"
{
  echo "uPlot $VERSION from npm (npm pack uplot@$VERSION), MIT licence: LICENSE."
  echo "tarball sha512: $(npm view "uplot@$VERSION" dist.integrity)"
  echo "sha256 of the files kept:"
  (cd "$DEST" && sha256sum uPlot.iife.min.js uPlot.min.css LICENSE)
} >"$DEST/VERSION"
echo "vendored uPlot $VERSION into ${DEST#"$ROOT"/}"
