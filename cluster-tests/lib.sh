# shellcheck shell=bash
# Shared definitions for start-cluster.sh and stop-cluster.sh (sourced, not run).
# Some variables are used only by the scripts that source this file.
# shellcheck disable=SC2034

STATE=${BLOCKORCH_SLURM_DIR:-/tmp/blockorch-slurm}
STATE=${STATE%/}
case $STATE in
    /*) ;;
    *) STATE=$PWD/$STATE ;;
esac

ETC=$STATE/etc
RUN=$STATE/run
LOGDIR=$STATE/log
SPOOL=$STATE/spool
MUNGE_DIR=$STATE/munge          # socket directory, mode 755
MUNGE_KEY_DIR=$STATE/munge-key  # key directory, mode 700
MUNGE_SOCKET=$MUNGE_DIR/munge.socket
DB_DIR=$STATE/mariadb
DB_DATA=$DB_DIR/data
DB_SOCKET=$DB_DIR/mariadb.sock
SLURM_CONF_FILE=$ETC/slurm.conf

PORT_BASE=${BLOCKORCH_SLURM_PORT_BASE:-26800}
CTLD_PORT=$PORT_BASE
DBD_PORT=$((PORT_BASE + 1))
DB_PORT=$((PORT_BASE + 2))
NODES=(node1 node2 node3 node4)
node_port() { echo $((PORT_BASE + 10 + ${1#node})); }

DAEMON_PATH=/usr/sbin:/usr/bin:/sbin:/bin

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}

# Serialise concurrent start/stop calls on one state directory.
take_lock() {
    mkdir -p "$STATE"
    exec 9>"$STATE/.lock"
    if ! flock -w "${1:-120}" 9; then
        die "could not lock $STATE/.lock (another start/stop running?)"
    fi
}

# True when process $1 belongs to this state directory: its command line or
# environment mentions $STATE/, or it has a file below $STATE/ open
# (slurmstepd: it rewrites its command line and gets a clean environment,
# but keeps the slurmd log file open).
owned_by_state() {
    local pid=$1 f text
    for f in cmdline environ; do
        # No "| grep -q" here: with pipefail an early grep exit is a failure.
        text=$(tr '\0' '\n' 2>/dev/null <"/proc/$pid/$f") || continue
        if [[ $text == *"$STATE/"* ]]; then
            return 0
        fi
    done
    for f in "/proc/$pid/fd/"*; do
        text=$(readlink "$f" 2>/dev/null) || continue
        if [[ $text == "$STATE/"* ]]; then
            return 0
        fi
    done
    return 1
}

# daemon_pid PIDFILE NAME...: print the pid from PIDFILE if that process is
# alive, its name is one of NAME..., and it belongs to this state directory.
daemon_pid() {
    local pidfile=$1 pid comm name
    shift
    [[ -r $pidfile ]] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [[ -n $pid ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    for name in "$@"; do
        if [[ $comm == "$name" ]] && owned_by_state "$pid"; then
            echo "$pid"
            return 0
        fi
    done
    return 1
}

# Daemon table: "label pidfile name [name...]".
daemon_table() {
    local n
    echo "munged $RUN/munged.pid munged"
    echo "mariadb $RUN/mariadb.pid mariadbd mysqld"
    echo "slurmdbd $RUN/slurmdbd.pid slurmdbd"
    echo "slurmctld $RUN/slurmctld.pid slurmctld"
    for n in "${NODES[@]}"; do
        echo "slurmd-$n $RUN/slurmd-$n.pid slurmd"
    done
}

# pid_of LABEL: pid of one of our daemons, if running.
pid_of() {
    local label pidfile names
    while read -r label pidfile names; do
        if [[ $label == "$1" ]]; then
            # shellcheck disable=SC2086 # names is a word list
            daemon_pid "$pidfile" $names
            return
        fi
    done < <(daemon_table)
    return 1
}

# True if something listens on TCP port $1 (IPv4 or IPv6), without
# connecting to it (a connect makes slurm daemons log errors).
port_listening() {
    local hex
    hex=$(printf ':%04X' "$1")
    awk -v p="$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 }
        END { exit !f }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# Print the last lines of every daemon log (for failures).
tail_logs() {
    local f
    for f in "$LOGDIR"/*.log; do
        [[ -s $f ]] || continue
        printf '==> %s <==\n' "$f" >&2
        tail -n "${1:-15}" "$f" >&2
    done
}

# Processes of the given name that belong to this state directory.
owned_processes() {
    local d pid comm
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        [[ $comm == "$1" ]] || continue
        if owned_by_state "$pid"; then
            echo "$pid"
        fi
    done
}

# terminate PID...: SIGTERM, wait up to $STOP_WAIT s (default 20), SIGKILL.
terminate() {
    local pid deadline alive
    [[ $# -gt 0 ]] || return 0
    kill -TERM "$@" 2>/dev/null || true
    deadline=$((SECONDS + ${STOP_WAIT:-20}))
    while :; do
        alive=()
        for pid in "$@"; do
            if [[ -e /proc/$pid ]] && ! grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null; then
                alive+=("$pid")
            fi
        done
        [[ ${#alive[@]} -gt 0 ]] || return 0
        if ((SECONDS >= deadline)); then
            log "killing ${alive[*]} (did not stop in time)"
            kill -KILL "${alive[@]}" 2>/dev/null || true
            return 0
        fi
        sleep 0.1
    done
}

# stop_labels LABEL...: stop those of our daemons that are running.
stop_labels() {
    local label pid pids=()
    for label in "$@"; do
        if pid=$(pid_of "$label"); then
            pids+=("$pid")
        fi
    done
    terminate "${pids[@]}"
}

# Cancel every job of our cluster and wait (bounded) until they are gone,
# so that no slurmstepd outlives its slurmd.
cancel_all_jobs() {
    local jobs deadline
    jobs=$(SLURM_CONF=$SLURM_CONF_FILE timeout 10 squeue -h -o %A 2>/dev/null) || return 0
    [[ -n $jobs ]] || return 0
    log "cancelling $(wc -w <<<"$jobs") job(s)"
    # shellcheck disable=SC2086 # one word per job id
    SLURM_CONF=$SLURM_CONF_FILE timeout 10 scancel $jobs 2>/dev/null || true
    # KillWait=5, plus time for the epilog; a job whose slurmd died stays
    # COMPLETING: its processes are killed below.
    deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        jobs=$(SLURM_CONF=$SLURM_CONF_FILE timeout 10 squeue -h -o %A -t R,CG,S,ST 2>/dev/null) || return 0
        [[ -n $jobs ]] || return 0
        sleep 0.2
    done
}

# Pids of slurmd processes on this machine that are not ours.
other_slurmds() {
    local d pid comm
    for d in /proc/[0-9]*; do
        pid=${d#/proc/}
        comm=$(cat "$d/comm" 2>/dev/null) || continue
        [[ $comm == slurmd ]] || continue
        # Zombies (not yet reaped by init) have no environment to check.
        grep -q '^State:.*Z' "$d/status" 2>/dev/null && continue
        if ! owned_by_state "$pid"; then
            echo "$pid"
        fi
    done
}

# process_tree PID...: the given pids and all their descendants.
process_tree() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } |
        awk -v roots="$*" '
            { pid = $1; line = $0; sub(/.*\) /, "", line); split(line, f, " ")
              parent[pid] = f[2] }
            END {
                n = split(roots, r, " ")
                for (i = 1; i <= n; i++) keep[r[i]] = 1
                do {
                    changed = 0
                    for (p in parent)
                        if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 }
                } while (changed)
                for (p in keep) print p
            }'
}

# Cgroup directories slurmd created for our nodes (cgroup v1 and v2).
node_cgroups() {
    local n
    for n in "${NODES[@]}"; do
        find /sys/fs/cgroup -maxdepth 3 -type d -name "slurm_$n" 2>/dev/null || true
    done
}

# Kill job processes that outlived their slurmd/slurmstepd, then remove the
# (now empty) cgroups of our nodes. Skipped for cgroups while another
# cluster's slurmd (same node names, same cgroup paths) runs here.
kill_leftovers() {
    local stray pids dir f deadline
    stray=$(owned_processes slurmstepd)
    if [[ -n $stray ]]; then
        # shellcheck disable=SC2086 # one word per pid
        pids=$(process_tree $stray)
        log "killing leftover job steps: $(wc -w <<<"$pids") process(es)"
        # shellcheck disable=SC2086 # one word per pid
        kill -KILL $pids 2>/dev/null || true
    fi
    [[ -z $(other_slurmds) ]] || return 0
    pids=""
    while read -r dir; do
        [[ -n $dir ]] || continue
        # Thaw frozen (suspended) jobs so that SIGKILL takes effect.
        while read -r f; do
            echo THAWED >"$f" 2>/dev/null || true
        done < <(find "$dir" -name freezer.state 2>/dev/null || true)
        pids+=" $(find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null || true)"
    done < <(node_cgroups)
    if [[ -n ${pids// /} ]]; then
        log "killing processes left in the nodes' cgroups"
        # shellcheck disable=SC2086 # one word per pid
        kill -KILL $pids 2>/dev/null || true
    fi
    deadline=$((SECONDS + 3))
    while read -r dir; do
        [[ -n $dir ]] || continue
        until find "$dir" -depth -type d -exec rmdir {} + 2>/dev/null; do
            ((SECONDS < deadline)) || break
            sleep 0.1
        done
    done < <(node_cgroups)
}

# Stop all daemons of this state directory (only those we started).
stop_all() {
    local labels=() n
    if pid_of slurmctld >/dev/null && port_listening "$CTLD_PORT"; then
        cancel_all_jobs
    fi
    for n in "${NODES[@]}"; do labels+=("slurmd-$n"); done
    stop_labels "${labels[@]}" slurmctld
    kill_leftovers
    stop_labels slurmdbd
    stop_labels mariadb munged
    rm -f "$RUN"/*.pid "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$DB_SOCKET"
}
