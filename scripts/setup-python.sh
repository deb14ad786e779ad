#!/usr/bin/env bash
# Set up the Python side of the daisy differential test (tests/daisy/):
# a virtualenv at <repo>/.venv with daisy 2.0.0 in it.
#
#   scripts/setup-python.sh            # prints the venv's python path
#   PYTHON=python3.11 scripts/setup-python.sh
#
# Idempotent: when .venv already imports daisy 2.0.0 it does nothing else.
# Only the python path goes to stdout; progress goes to stderr.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv"
py="$venv/bin/python"
want="2.0.0"

has_daisy() {
    [ -x "$py" ] && "$py" - "$want" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
import daisy  # noqa: F401  (the compiled core must import, not just be listed)
sys.exit(0 if version("daisy") == sys.argv[1] else 1)
EOF
}

if has_daisy; then
    echo "$py"
    exit 0
fi

if [ ! -x "$py" ]; then
    base="${PYTHON:-python3}"
    if ! command -v "$base" >/dev/null 2>&1; then
        echo "setup-python: $base not found; install Python 3 (>= 3.10) or set PYTHON" >&2
        exit 1
    fi
    echo "setup-python: creating $venv with $("$base" --version 2>&1)" >&2
    if ! "$base" -m venv "$venv" >&2; then
        echo "setup-python: '$base -m venv' failed (on Debian: apt-get install python3-venv)" >&2
        exit 1
    fi
fi

echo "setup-python: installing daisy==$want into $venv" >&2
"$py" -m pip install --quiet --disable-pip-version-check "daisy==$want" >&2

if ! has_daisy; then
    echo "setup-python: daisy $want still does not import from $py" >&2
    exit 1
fi
echo "$py"
