#!/usr/bin/env bash
# Stop the private SLURM cluster that start-cluster.sh started for
# $BLOCKORCH_SLURM_DIR (default /tmp/blockorch-slurm): cancels its jobs, then
# stops only the daemons recorded in its pid files (after checking each
# process's name and that it belongs to this state directory).
#
# Usage: stop-cluster.sh [--purge]   (--purge also deletes the state directory:
#                                      accounting database, job ids, logs)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

purge=0
case ${1:-} in
    --purge) purge=1 ;;
    "") ;;
    *) die "usage: $0 [--purge]" ;;
esac

if [[ ! -d $STATE ]]; then
    log "nothing to stop ($STATE does not exist)"
    exit 0
fi

t0=$SECONDS
take_lock 120
stop_all
log "stopped in $((SECONDS - t0)) s"

if [[ $purge -eq 1 ]]; then
    # Keep the lock file open until the end; remove everything else.
    find "$STATE" -mindepth 1 -maxdepth 1 ! -name .lock -exec rm -rf {} +
    rm -f "$STATE/.lock"
    rmdir "$STATE" 2>/dev/null || true
    log "removed $STATE"
fi
