#!/usr/bin/env bash
# Mounts the latencyfs test filesystem (tools/latencyfs) in a state directory:
#   bench/fs/mount.sh STATE [latencyfs options...]
# STATE/src holds the files, STATE/mnt is the mount, STATE/stats.json the operation counts
# (rewritten every 200 ms), STATE/pid the daemon, STATE/log its messages. Defaults: 1 ms per
# metadata operation, 3 ms per fsync, --actimeo 1; pass e.g. `--metadata-ms 0 --actimeo 0`.
# Builds the tool first if needed (its own target dir; blockorch does not depend on it).
# Prints the mount point. Needs root (or /dev/fuse and fusermount3) and /dev/fuse.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
state="${1:?usage: mount.sh STATE [latencyfs options...]}"
shift
bin="${LATENCYFS:-$repo/tools/latencyfs/target/release/latencyfs}"
if [[ -z "${LATENCYFS:-}" ]]; then
    cargo build --quiet --release --manifest-path "$repo/tools/latencyfs/Cargo.toml" \
        --target-dir "$repo/tools/latencyfs/target" >&2
fi
mkdir -p "$state/src" "$state/mnt"
state="$(cd "$state" && pwd)"
if mountpoint -q "$state/mnt"; then
    echo "mount.sh: $state/mnt is already mounted" >&2
    exit 1
fi
rm -f "$state/stats.json"
setsid "$bin" --source "$state/src" --mountpoint "$state/mnt" --stats "$state/stats.json" "$@" \
    </dev/null >"$state/log" 2>&1 &
echo $! >"$state/pid"
for _ in $(seq 200); do
    if mountpoint -q "$state/mnt" && [[ -s "$state/stats.json" ]] && stat "$state/mnt" >/dev/null 2>&1; then
        echo "$state/mnt"
        exit 0
    fi
    if ! kill -0 "$(cat "$state/pid")" 2>/dev/null; then
        echo "mount.sh: latencyfs exited:" >&2
        cat "$state/log" >&2
        exit 1
    fi
    sleep 0.05
done
echo "mount.sh: $state/mnt did not come up in 10 s" >&2
exit 1
