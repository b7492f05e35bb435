#!/usr/bin/env bash
# The door page's fallback QR decoder (where the browser has no BarcodeDetector, e.g. Debian's
# desktop Chromium): jsQR, pinned, fetched once from npm with `npm pack` and committed under
# static/vendor/jsqr/ with its licence. Pages load it from our own origin: no CDN. Run again only
# to move the pin: change VERSION, run, review the diff, commit.
set -euo pipefail
VERSION="1.4.0"
INTEGRITY="sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A=="  # npm's sha512 of the tarball, checked before anything is unpacked
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/static/vendor/jsqr"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack "jsqr@$VERSION" --silent >/dev/null
TARBALL="jsqr-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "jsqr@$VERSION: integrity $GOT, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$TARBALL"
mkdir -p "$DEST"
cp package/dist/jsQR.js "$DEST/jsQR.js"
cp package/LICENSE "$DEST/LICENSE"
printf 'jsqr %s from npm (npm pack jsqr@%s), %s\nLicence: Apache-2.0 (LICENSE)\nFetched by scripts/vendor-jsqr.sh\n' \
  "$VERSION" "$VERSION" "$INTEGRITY" >"$DEST/VERSION"
echo "vendored jsqr@$VERSION into static/vendor/jsqr/"
