#!/bin/sh
# Peak memory (RSS) and time of every form of `blockorch status` that reads the ledger (plain,
# `--json`, `--map`, `--blocks`, a filtered `--blocks`, `--failed`, `--stats`) and of `report`,
# on a ledger of N×N done blocks (default 1000×1000 = 10^6), written by the `ledger_build`
# bench helper. Not a test.
#
#   bench/status_blocks_mem.sh [SIDE]
#
# Uses target/release/blockorch (PROFILE=debug for target/debug) and /usr/bin/time -v.
# LEDGER_DIR=DIR keeps the ledger in DIR/big.ledger and reuses it when it is already there
# (to measure two builds on one ledger, or to skip the minutes a 10^7-block ledger takes).
set -eu
SIDE=${1:-1000}
PROFILE=${PROFILE:-release}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
DIR=${LEDGER_DIR:-$WORK}
mkdir -p "$DIR"
L="$DIR/big.ledger"
cat > "$WORK/big.json" <<JSON
{"tasks": [{"name": "big",
  "total_roi": {"offset": [0, 0], "shape": [$SIDE, $SIDE]},
  "read_roi": {"offset": [0, 0], "shape": [1, 1]},
  "write_roi": {"offset": [0, 0], "shape": [1, 1]},
  "worker": {"command": ["true"]}}]}
JSON
cd "$ROOT"
if [ "$PROFILE" = release ]; then
  cargo build --release --bin blockorch >&2
  [ -d "$L" ] || cargo bench --bench ledger_build -- "$WORK/big.json" "$L" --workers 100 >&2
else
  cargo build --bin blockorch >&2
  [ -d "$L" ] || cargo test --bench ledger_build -- "$WORK/big.json" "$L" --workers 100 >&2
fi
BIN="$TARGET/$PROFILE/blockorch"
measure() {
  /usr/bin/time -v "$BIN" "$@" > "$WORK/out" 2> "$WORK/time"
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time")
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time")
  lines=$(wc -l < "$WORK/out")
  shown=$(echo "$*" | sed "s|$L|LEDGER|; s|$WORK/||")
  printf '%-40s peak RSS %6d MB  wall %8s  %8d lines\n' "$shown" $((rss / 1024)) "$wall" "$lines"
}
measure status "$L"
measure status "$L" --json
measure status "$L" --map
measure status "$L" --blocks
measure status "$L" --blocks --state failed
measure status "$L" --failed
measure status "$L" --stats
measure report "$L" -o "$WORK/report.html"
