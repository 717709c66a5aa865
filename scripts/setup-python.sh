#!/usr/bin/env bash
# Creates (or reuses) the Python venv at .tools/py that tests/py runs in: getstream 7.0.0 (Stream's
# current Python SDK) and pytest, every package pinned in tests/py/requirements.txt. Idempotent: a
# venv whose interpreter works and whose installed set matches the pins is left as it is.
#
# The interpreter: $PYTHON if set, else the first of `python3` on PATH and /usr/bin/python3 that
# can make a venv (it needs the venv and ensurepip modules). Without one, as root it installs
# Debian's python3-venv with apt; otherwise it says what to install and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.tools/py
REQ=tests/py/requirements.txt
STAMP="$VENV/.roster-requirements"
say() { printf '\033[1m[setup-python]\033[0m %s\n' "$*"; }

# Already there: the venv's python runs, the pins it was made from are these, and the two packages
# the suite names import at their pinned versions.
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && cmp -s "$REQ" "$STAMP" \
  && "$VENV/bin/python" - <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
import getstream, pytest  # noqa: F401
sys.exit(0 if (version("getstream"), version("pytest")) == ("7.0.0", "8.4.2") else 1)
PY
then
  say "ready: $("$VENV/bin/python" --version 2>&1), getstream 7.0.0, pytest 8.4.2 ($VENV)"
  exit 0
fi

can_venv() { "$1" -c 'import venv, ensurepip, sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' >/dev/null 2>&1; }

pick_python() {
  local c
  for c in ${PYTHON:-} python3 /usr/bin/python3; do
    if command -v "$c" >/dev/null 2>&1 && can_venv "$c"; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

if ! PY=$(pick_python); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "no python3 that can make a venv: installing python3 and python3-venv with apt"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
    PY=$(pick_python) || { say "python3-venv installed, yet no python3 can make a venv"; exit 1; }
  else
    say "no python3 (3.10 or later) with the venv module found. On Debian/Ubuntu run:"
    say "  sudo apt-get install python3 python3-venv"
    say "or set PYTHON=/path/to/python3 (3.10+), then run this again."
    exit 1
  fi
fi

say "creating $VENV with $PY ($("$PY" --version 2>&1))"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
cp "$REQ" "$STAMP"
say "ready: $("$VENV/bin/python" --version 2>&1), getstream 7.0.0, pytest 8.4.2 ($VENV)"
