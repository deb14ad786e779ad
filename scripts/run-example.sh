#!/usr/bin/env bash
# The main job: build blockorch and run the bundled example (examples/smoothing) on the local
# backend, then check its output against a single-process computation.
# Extra arguments go to `blockorch submit` (e.g. --quiet). Running it again resumes the same
# ledger, which is already complete, and only re-checks the result.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
command -v cargo >/dev/null || { echo "cargo is required (https://rustup.rs)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is required" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
cd "$repo/examples/smoothing"
"$repo/target/release/blockorch" submit task.json "$@"
python3 verify.py
