#!/usr/bin/env bash
# The shared-filesystem load benchmarks of docs/performance.md ("Shared-filesystem load"):
#   bench/fs/run.sh [OUT]        (default OUT: target/fsbench)
# Builds blockorch (release) and latencyfs, then runs, each on a fresh latencyfs mount with
# 1 ms per metadata operation, 3 ms per fsync and 1 s attribute/lookup caching:
#   1. 32 workers (32 agents of one slot, and one agent of 32 slots) in long blocks:
#      metadata operations per second per worker;
#   2. 640 one-second blocks on 32 workers: wall time on latencyfs vs on a local disk;
#   3. 100, 300 and 1,000 agents, idle (all in one long block) and busy (5-second blocks):
#      metadata operations per second and the orchestrator's CPU.
# Needs root and /dev/fuse. Takes about 17 minutes on 2 cores. Results: OUT/{long,wall,scale}.json and
# the tables on stdout. FSBENCH_ARGS adds options to every fsbench.py call (e.g. --window 20).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="${1:-$repo/target/fsbench}"
cd "$repo"
cargo build --release --quiet --bin blockorch
bin="${CARGO_TARGET_DIR:-$repo/target}/release/blockorch"
ulimit -n 65536 2>/dev/null || true
# shellcheck disable=SC2086
{
    python3 bench/fs/fsbench.py long --blockorch "$bin" --out "$out" ${FSBENCH_ARGS:-}
    python3 bench/fs/fsbench.py wall --blockorch "$bin" --out "$out" ${FSBENCH_ARGS:-}
    python3 bench/fs/fsbench.py scale --blockorch "$bin" --out "$out" ${FSBENCH_ARGS:-}
}
