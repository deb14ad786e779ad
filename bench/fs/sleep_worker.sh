#!/bin/sh
# A tiny persistent blockorch worker program (no Python): reads blocks on stdin, one JSON line
# each, sleeps BLOCK_SECONDS (default 1) per block and reports it done on fd 3. With MARKS set,
# it first creates the empty file MARKS/<worker id>.<slot>.<block id> (outside the ledger), so a
# benchmark or test can see which blocks are running.
while IFS= read -r line; do
    id=${line#*\"block_id\":}
    id=${id%%,*}
    id=${id# }
    if [ -n "${MARKS:-}" ]; then
        : >"$MARKS/$BLOCKORCH_WORKER_ID.$BLOCKORCH_SLOT.$id"
    fi
    sleep "${BLOCK_SECONDS:-1}"
    printf '{"block_id": %s, "status": "done"}\n' "$id" >&3
done
