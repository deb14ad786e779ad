#!/usr/bin/env bash
# Quick self-check of the running test cluster (start it first with
# start-cluster.sh). Exits non-zero on any failure.
#
# Checks: sbatch --wrap job COMPLETED in sacct with its output; a
# --gres=gpu:1 job on the gpu partition sees CUDA_VISIBLE_DEVICES; a job
# array --array=0-3 runs all tasks; a job exceeding --mem is killed
# (OUT_OF_MEMORY with cgroup enforcement, FAILED/OUT_OF_MEMORY otherwise).
#
# Job scripts below are single-quoted on purpose: they expand inside the job.
# shellcheck disable=SC2016
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=env.sh
. "$HERE/env.sh"

TIMEOUT=${SMOKE_TIMEOUT:-90}
failures=0
t0=$SECONDS

say() { printf 'smoke: %s\n' "$*"; }
bad() {
    say "FAIL: $*"
    failures=$((failures + 1))
}

[[ -n ${SLURM_CONF:-} && -r $SLURM_CONF ]] || {
    say "FAIL: no cluster configuration; run start-cluster.sh first"
    exit 1
}
[[ $(timeout 10 scontrol ping 2>&1) == *"is UP"* ]] || {
    say "FAIL: slurmctld does not answer"
    exit 1
}

out=$(mktemp -d /tmp/blockorch-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT

submit() {
    local id
    id=$(timeout 30 sbatch --parsable --job-name=blockorch-smoke "$@") || {
        say "FAIL: sbatch $*"
        exit 1
    }
    echo "${id%%;*}"
}

# sacct_states JOBID: "jobid state" lines for the job (array tasks included).
sacct_states() {
    timeout 10 sacct -X -n -P -j "$1" -o JobID,State 2>/dev/null | tr '|' ' '
}

# wait_done JOBID COUNT: wait until COUNT records of JOBID have ended.
wait_done() {
    local id=$1 want=$2 deadline n_done
    deadline=$((SECONDS + TIMEOUT))
    while ((SECONDS < deadline)); do
        n_done=$(sacct_states "$id" |
            awk '$2 !~ /^(PENDING|RUNNING|REQUEUED|CONFIGURING|COMPLETING|SUSPENDED|RESIZING)/' |
            wc -l)
        if ((n_done >= want)); then
            return 0
        fi
        sleep 0.5
    done
    bad "job $id not finished after $TIMEOUT s: $(sacct_states "$id" | tr '\n' ' ')"
    return 1
}

# expect_states JOBID REGEX: every record's state matches REGEX.
expect_states() {
    local id=$1 re=$2 jid state
    while read -r jid state; do
        if [[ ! $state =~ ^($re)$ ]]; then
            bad "job $jid ended $state, expected $re"
        fi
    done < <(sacct_states "$id")
}

# Submit everything first so the jobs run concurrently.
plain=$(submit -o "$out/plain.out" --wrap 'echo "hello from $SLURMD_NODENAME"')
gpu=$(submit -p gpu --gres=gpu:1 -o "$out/gpu.out" \
    --wrap 'echo "CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-unset} SLURM_JOB_GPUS=${SLURM_JOB_GPUS-unset}"')
array=$(submit --array=0-3 -o "$out/array-%a.out" --wrap 'echo "task $SLURM_ARRAY_TASK_ID"')
mode=$(cat "$BLOCKORCH_SLURM_DIR/memory-enforcement" 2>/dev/null || echo unknown)
# Holds ~256 MiB for a few seconds against a 64 MiB limit.
oom=$(submit --mem=64M -o "$out/oom.out" \
    --wrap 'x=$(head -c 268435456 /dev/zero | tr "\0" x); sleep 5; echo survived ${#x}')
say "submitted $plain (plain), $gpu (gpu), $array (array 0-3), $oom (over memory)"

if wait_done "$plain" 1; then
    expect_states "$plain" COMPLETED
    grep -q '^hello from node[1-4]$' "$out/plain.out" 2>/dev/null ||
        bad "plain job output: $(cat "$out/plain.out" 2>/dev/null)"
fi

if wait_done "$gpu" 1; then
    expect_states "$gpu" COMPLETED
    if grep -qE '^CUDA_VISIBLE_DEVICES=[0-9]' "$out/gpu.out" 2>/dev/null; then
        say "gpu job: $(cat "$out/gpu.out")"
    else
        bad "gpu job did not see CUDA_VISIBLE_DEVICES: $(cat "$out/gpu.out" 2>/dev/null)"
    fi
fi

if wait_done "$array" 4; then
    expect_states "$array" COMPLETED
    [[ $(sacct_states "$array" | wc -l) -eq 4 ]] ||
        bad "array: expected 4 tasks, sacct shows: $(sacct_states "$array" | tr '\n' ' ')"
    for i in 0 1 2 3; do
        grep -qx "task $i" "$out/array-$i.out" 2>/dev/null || bad "array task $i output missing"
    done
fi

if wait_done "$oom" 1; then
    if [[ $mode == cgroup ]]; then
        expect_states "$oom" OUT_OF_MEMORY
    else
        expect_states "$oom" 'OUT_OF_MEMORY|FAILED|CANCELLED.*'
    fi
    say "over-memory job ($mode): $(sacct_states "$oom" | awk '{print $2}')"
fi

if ((failures > 0)); then
    say "$failures check(s) failed ($((SECONDS - t0)) s)"
    exit 1
fi
say "all checks passed ($((SECONDS - t0)) s)"
