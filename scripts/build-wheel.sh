#!/usr/bin/env bash
# Build the blockorch wheel (the `blockorch` command plus the Python package) with
# `pip wheel .` — the same PEP 517 build `pip install .` runs — into target/wheels, and print
# its path. CARGO_TARGET_DIR defaults to target/, so the release build is shared with
# `cargo build --release` / `cargo test --release`.
#
#   scripts/build-wheel.sh                  # uses $BLOCKORCH_PYTHON, else .venv, else python3
# Only the wheel's path goes to stdout; progress goes to stderr.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py="${BLOCKORCH_PYTHON:-}"
if [ -z "$py" ]; then
    if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
out="$CARGO_TARGET_DIR/wheels"
rm -f "$out"/blockorch-*.whl
"$py" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$out" . >&2
wheel="$(ls "$out"/blockorch-*.whl)"
echo "$wheel"
