#!/usr/bin/env bash
# Stop the single-node SLURM cluster that workflow/cluster/slurm_up.sh started.
# Uses the pid files slurm_up.sh wrote, so it never touches other processes.
#
#   workflow/cluster/slurm_down.sh            # slurmd, slurmctld and munged
#   REPGEOM_SLURM_KEEP_MUNGE=1 workflow/cluster/slurm_down.sh   # leave munged up
#
# Running jobs are killed with the daemons (slurmd takes its job steps down);
# slurm_up.sh starts slurmctld with a clean state, so nothing is resumed later.
set -euo pipefail

STATE_DIR=${REPGEOM_SLURM_STATE_DIR:-/var/lib/repgeom-slurm}
MUNGE_PID=/run/munge/munged.pid

log() { echo "slurm_down: $*" >&2; }

stop() { # name pidfile
    local name=$1 pidfile=$2 pid
    if [[ ! -f $pidfile ]] || ! pid=$(cat "$pidfile") || ! kill -0 "$pid" 2>/dev/null; then
        log "$name not running"
        return 0
    fi
    kill "$pid"
    # The daemons remove their pid file late; wait on the process itself, and
    # escalate only if it hangs (slurmd waits for job steps to end).
    for _ in $(seq 40); do
        kill -0 "$pid" 2>/dev/null || { log "$name stopped"; return 0; }
        sleep 0.25
    done
    log "$name did not stop in 10 s: SIGKILL"
    kill -9 "$pid" 2>/dev/null || true
}

# Cancel queued and running jobs first, so slurmd has no steps left to wait for.
if command -v scancel >/dev/null && [[ -f $STATE_DIR/slurmctld.pid ]]; then
    scancel --user=root --quiet 2>/dev/null || true
fi
stop slurmd "$STATE_DIR/slurmd.pid"
stop slurmctld "$STATE_DIR/slurmctld.pid"
if [[ ${REPGEOM_SLURM_KEEP_MUNGE:-0} != 1 ]]; then
    stop munged "$MUNGE_PID"
fi
