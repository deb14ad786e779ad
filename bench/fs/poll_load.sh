#!/usr/bin/env bash
# The ledger's load on a slow shared filesystem (issue 10), with the latencyfs layer
# (bench/fs/mount.sh): 1 ms per metadata operation, 3 ms per fsync, attributes cached 1 s.
#   bench/fs/poll_load.sh BLOCKORCH [idle|busy|both]
# idle: 32 workers (local backend, one slot each) in the middle of one 60-s block each (the
#       30 s measured contain no block start or end, and one agent heartbeat each); prints the
#       metadata operations per second of all processes together, and per worker.
# busy: 640 one-second blocks on 32 workers, wall time on a local disk and on latencyfs.
# Needs root (FUSE). Uses /tmp/poll-load as its state directory.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
bo="$(realpath "${1:?usage: poll_load.sh BLOCKORCH [idle|busy|both]}")"
what="${2:-both}"
state=/tmp/poll-load
workers=32
bench/fs/umount.sh "$state" >/dev/null 2>&1 || true
rm -rf "$state"
mnt="$("$repo/bench/fs/mount.sh" "$state" --metadata-ms 1 --fsync-ms 3 --actimeo 1)"
trap '"$repo/bench/fs/umount.sh" "$state" >/dev/null 2>&1 || true' EXIT

task() { # DIR BLOCKS SECONDS
    mkdir -p "$1"
    cat >"$1/task.json" <<JSON
{"name": "sleep", "total_roi": {"offset": [0], "shape": [$2]},
 "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
 "fit": "valid", "read_write_conflict": false, "num_workers": $workers,
 "worker": {"command": ["sleep", "$3"], "per_block": true}}
JSON
}

if [[ "$what" == idle || "$what" == both ]]; then
    task "$mnt/idle" "$workers" 60
    "$bo" submit "$mnt/idle/task.json" --quiet >"$state/idle.out" 2>&1 &
    sub=$!
    sleep 15 # start-up: every worker in its block
    "$repo/bench/fs/stats.sh" "$state" reset
    rate="$("$repo/bench/fs/stats.sh" "$state" rate 30)"
    wait "$sub"
    echo "idle ($workers workers in the middle of 60-s blocks): $rate"
    python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(\"  per worker: %.2f metadata ops/s\" % (r[\"metadata_per_s\"] / int(sys.argv[2])))" "$rate" "$workers"
fi

if [[ "$what" == busy || "$what" == both ]]; then
    for where in local fs; do
        if [[ $where == local ]]; then dir="$state/local-busy"; else dir="$mnt/busy"; fi
        task "$dir" 640 1
        start=$(date +%s.%N)
        "$bo" submit "$dir/task.json" --quiet >"$state/$where.out" 2>&1
        end=$(date +%s.%N)
        echo "busy (640 one-second blocks, $workers workers) on $where: $(python3 -c "print(round($end - $start, 1))") s"
    done
fi
