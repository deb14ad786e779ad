#!/usr/bin/env bash
# Unmounts what bench/fs/mount.sh STATE mounted and waits for the daemon to exit:
#   bench/fs/umount.sh STATE
# A busy mount (a process still inside it) is detached lazily. STATE/src is kept.
set -euo pipefail
state="${1:?usage: umount.sh STATE}"
pid="$(cat "$state/pid" 2>/dev/null || true)"
if mountpoint -q "$state/mnt"; then
    umount "$state/mnt" 2>/dev/null || umount -l "$state/mnt"
fi
if [[ -n "$pid" ]]; then
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
    fi
    rm -f "$state/pid"
fi
