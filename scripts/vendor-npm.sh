#!/usr/bin/env bash
# Vendor one npm package's files into static/vendor/, pinned: `npm pack` the exact version, check
# the tarball against its sha512 before anything is unpacked, copy the files kept and the package's
# LICENSE, and write VERSION (the pin, the integrity, the sha256 of each file kept). Pages load
# them from our own origin: no CDN. Run again only to move a pin, then review the diff and commit.
#   scripts/vendor-npm.sh PACKAGE VERSION SHA512-INTEGRITY DEST FILE_IN_PACKAGE...
set -euo pipefail
PACKAGE="$1" VERSION="$2" INTEGRITY="$3" DEST="$4"
shift 4
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

(cd "$WORK" && npm pack "$PACKAGE@$VERSION" --silent >/dev/null)
TARBALL="$WORK/$PACKAGE-$VERSION.tgz"
GOT="sha512-$(openssl dgst -sha512 -binary "$TARBALL" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "$PACKAGE@$VERSION: integrity $GOT, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$TARBALL" -C "$WORK"
mkdir -p "$DEST"
for file in "$@" LICENSE; do cp "$WORK/package/$file" "$DEST/"; done
{
  echo "$PACKAGE $VERSION from npm (npm pack $PACKAGE@$VERSION), licence: LICENSE"
  echo "tarball $INTEGRITY"
  echo "sha256 of the files kept:"
  (cd "$DEST" && sha256sum "${@##*/}" LICENSE)
  echo "Fetched by scripts/vendor-npm.sh"
} >"$DEST/VERSION"
echo "vendored $PACKAGE@$VERSION into $DEST"
