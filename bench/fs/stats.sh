#!/usr/bin/env bash
# Operation counts of a latencyfs mount (bench/fs/mount.sh STATE):
#   bench/fs/stats.sh STATE            the current snapshot (JSON, one line)
#   bench/fs/stats.sh STATE reset      zero every counter, wait until the snapshot shows it
#   bench/fs/stats.sh STATE rate SECS  metadata and sync operations per second over SECS,
#                                      and each kind's count, as JSON
set -euo pipefail
state="${1:?usage: stats.sh STATE [reset | rate SECS]}"
pid="$(cat "$state/pid")"
snapshot() {
    kill -USR2 "$pid"
    sleep 0.05
    cat "$state/stats.json"
}
case "${2:-}" in
"") snapshot ;;
reset)
    before="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resets"])' "$state/stats.json")"
    kill -USR1 "$pid"
    for _ in $(seq 100); do
        now="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["resets"])' "$state/stats.json")"
        [[ "$now" != "$before" ]] && exit 0
        sleep 0.02
    done
    echo "stats.sh: reset not seen" >&2
    exit 1
    ;;
rate)
    a="$(snapshot)"
    sleep "${3:?rate needs SECS}"
    b="$(snapshot)"
    python3 - "$a" "$b" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
dt = b["uptime"] - a["uptime"]
ops = {k: b["ops"][k] - a["ops"][k] for k in b["ops"] if b["ops"][k] - a["ops"][k]}
print(json.dumps({"seconds": round(dt, 3),
                  "metadata_per_s": round((b["metadata"] - a["metadata"]) / dt, 1),
                  "sync_per_s": round((b["sync"] - a["sync"]) / dt, 1),
                  "ops": ops}))
PY
    ;;
*) echo "stats.sh: unknown command $2" >&2; exit 2 ;;
esac
