# shellcheck shell=bash
# Source this file to talk to the blockorch test cluster started by
# start-cluster.sh: it sources the env.sh that start-cluster.sh wrote into the
# state directory ($BLOCKORCH_SLURM_DIR, default /tmp/blockorch-slurm), which
# exports SLURM_CONF (without it every client command hangs) and
# BLOCKORCH_SLURM_MEMORY_ENFORCEMENT.
if [ -r "${BLOCKORCH_SLURM_DIR:-/tmp/blockorch-slurm}/env.sh" ]; then
    # shellcheck source=/dev/null
    . "${BLOCKORCH_SLURM_DIR:-/tmp/blockorch-slurm}/env.sh"
else
    echo "env.sh: ${BLOCKORCH_SLURM_DIR:-/tmp/blockorch-slurm}/env.sh missing; run cluster-tests/start-cluster.sh" >&2
    # shellcheck disable=SC2317 # exit only when run instead of sourced
    return 1 2>/dev/null || exit 1
fi
