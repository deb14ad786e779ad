#!/usr/bin/env bash
# Benchmark (not a test): `blockorch report` on a ledger of N^3 done blocks (default N=100:
# 10^6 blocks), written by benches/ledger_build.rs through the library, next to `status` on
# the same ledger; wall time and peak RSS from /usr/bin/time -v.
#
#   bench/report_big.sh [N] [WORKERS] [WORK_DIR]
#
# Results are quoted in docs/performance.md ("blockorch report at 10^6 blocks").
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
n="${1:-100}"
workers="${2:-100}"
work="${3:-$(mktemp -d)}"
cd "$repo"
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$repo/target}/release/blockorch"
mkdir -p "$work"
python3 - "$work/task.json" "$n" <<'PY'
import json, sys
path, n = sys.argv[1], int(sys.argv[2])
json.dump({"name": "noop",
           "total_roi": {"offset": [0, 0, 0], "shape": [10 * n + 4] * 3},
           "read_roi": {"offset": [0, 0, 0], "shape": [14, 14, 14]},
           "write_roi": {"offset": [2, 2, 2], "shape": [10, 10, 10]},
           "fit": "valid", "read_write_conflict": True, "num_workers": 2,
           "worker": {"command": ["true"]}}, open(path, "w"))
PY
rm -rf "$work/big.ledger"
cargo bench --quiet --bench ledger_build -- "$work/task.json" "$work/big.ledger" --workers "$workers"
measure() {
    local name="$1"; shift
    /usr/bin/time -v "$@" 2>"$work/$name.time" >/dev/null
    printf '%-8s %8s s  %7.0f MB peak RSS\n' "$name" \
        "$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/$name.time")" \
        "$(awk -F': ' '/Maximum resident set size/ {print $2 / 1024}' "$work/$name.time")"
}
for i in 1 2 3; do
    measure status "$bin" status "$work/big.ledger"
    measure report "$bin" report "$work/big.ledger" -o "$work/report.html"
done
ls -l "$work/report.html"
