#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts what the tests need (a real
# single-host SLURM cluster, a Python venv with daisy 2.0.0 for the differential tests), checks
# formatting and lints, then runs every test. Run as root on Debian 12 (CI does).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
step() { printf '\n== %s\n' "$*"; }

step "SLURM test cluster"
bash cluster-tests/start-cluster.sh
# shellcheck disable=SC1091
source cluster-tests/env.sh

step "Python venv with daisy 2.0.0"
BLOCKORCH_PYTHON="$(scripts/setup-python.sh)"
export BLOCKORCH_PYTHON

step "latencyfs: the FUSE test filesystem (tools/latencyfs; tests/fs_load.rs and bench/fs use it)"
[[ -e /dev/fuse ]] || modprobe fuse
(
    cd tools/latencyfs
    cargo fmt --check
    cargo clippy --release --all-targets --quiet --target-dir target -- -D warnings
    cargo build --release --quiet --target-dir target
)

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy"
cargo clippy --release --all-targets --quiet -- -D warnings

step "Python package wheel (pip wheel ., tests/python_package.rs installs it)"
BLOCKORCH_WHEEL="$(scripts/build-wheel.sh)"
export BLOCKORCH_WHEEL

step "cargo test"
export BLOCKORCH_REQUIRE_SLURM=1
export BLOCKORCH_REQUIRE_FUSE=1
# The fault tests append their counts here (docs/reliability.md quotes the last run's).
rm -f target/fault-counts.jsonl
status=0
cargo test --release --no-fail-fast --lib --bins --tests 2>&1 | tee target/test-output.txt || status=$?
# One closing line for the whole suite (the sum of every test binary's result line).
awk '/^test result:/ { p += $4; f += $6 } END { printf "%d passed, %d failed\n", p, f }' \
    target/test-output.txt
exit "$status"
