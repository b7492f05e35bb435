#!/usr/bin/env bash
# Prints the path of a Python matching .python-version (3.12+), so a new machine needs no manual setup.
set -euo pipefail
want=$(cat "$(dirname "$0")/../.python-version")
for candidate in "$HOME/.pyenv/versions/$want/bin/python" "$(command -v "python${want%.*}" || true)" \
                 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python "$(command -v python3.13 || true)" "$(command -v python3.12 || true)"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))'; then
    echo "$candidate"; exit 0
  fi
done
echo "No Python 3.12+ found: install $want (e.g. 'pyenv install $want') and try again." >&2
exit 1
