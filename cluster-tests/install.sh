#!/usr/bin/env bash
# Install Debian's SLURM, munge and MariaDB packages for the single-host test
# cluster, without letting the packages start any system-wide daemon.
#
# Idempotent: returns at once when everything is already installed.
# Must run as root on Debian 12 (bookworm).
set -euo pipefail

PACKAGES=(munge slurmctld slurmd slurm-client slurmdbd mariadb-server)
# Binaries the other scripts rely on; all of them must exist afterwards.
BINARIES=(munged slurmctld slurmd slurmdbd sbatch sacct sinfo scontrol
    mariadbd mariadb-install-db)

log() { printf 'install.sh: %s\n' "$*" >&2; }

missing_packages() {
    local p status
    for p in "${PACKAGES[@]}"; do
        status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        if [[ "$status" != "installed" ]]; then
            printf '%s\n' "$p"
        fi
    done
}

missing_binaries() {
    local b
    for b in "${BINARIES[@]}"; do
        if ! PATH="$PATH:/usr/sbin:/sbin" command -v "$b" >/dev/null 2>&1; then
            printf '%s\n' "$b"
        fi
    done
}

mapfile -t todo < <(missing_packages)
if [[ ${#todo[@]} -eq 0 ]]; then
    mapfile -t nobin < <(missing_binaries)
    if [[ ${#nobin[@]} -eq 0 ]]; then
        exit 0 # fast path: already installed
    fi
    log "packages installed but binaries missing: ${nobin[*]}"
    todo=("${PACKAGES[@]}")
fi

if [[ $(id -u) -ne 0 ]]; then
    log "must run as root to install: ${todo[*]}"
    exit 1
fi

# A temporary policy-rc.d exiting 101 ("action forbidden") keeps
# invoke-rc.d from starting the packages' system-wide daemons. An existing
# policy-rc.d is moved aside and restored afterwards.
POLICY=/usr/sbin/policy-rc.d
BACKUP=$POLICY.blockorch-saved
cleanup() {
    rm -f "$POLICY"
    if [[ -e $BACKUP ]]; then
        mv -f "$BACKUP" "$POLICY"
    fi
}
if [[ -e $POLICY && ! -e $BACKUP ]]; then
    mv "$POLICY" "$BACKUP"
fi
trap cleanup EXIT
printf '#!/bin/sh\nexit 101\n' >"$POLICY"
chmod 755 "$POLICY"

export DEBIAN_FRONTEND=noninteractive
apt_install() {
    apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
        "${PACKAGES[@]}"
}

lists_present() {
    compgen -G '/var/lib/apt/lists/*_Packages*' >/dev/null
}

log "installing: ${todo[*]}"
start=$SECONDS
if ! lists_present; then
    log "no apt package lists: running apt-get update"
    apt-get update -q
fi
if ! apt_install; then
    log "install failed: running apt-get update and retrying"
    apt-get update -q
    apt_install
fi

mapfile -t nobin < <(missing_binaries)
if [[ ${#nobin[@]} -ne 0 ]]; then
    log "still missing after install: ${nobin[*]}"
    exit 1
fi
log "installed in $((SECONDS - start)) s"
