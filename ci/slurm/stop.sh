#!/usr/bin/env bash
# Stop the one-node cluster that start.sh put in DIR: each daemon by its PID file, then the config link.
#   ci/slurm/stop.sh DIR
set -uo pipefail
dir="${1:?usage: stop.sh DIR}"
dir="$(cd "$dir" && pwd)"
etc_conf=/etc/slurm/slurm.conf

stop_pid_file() {
    local pid_file="$1" pid
    [ -s "$pid_file" ] || return 0
    pid="$(cat "$pid_file")"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# slurmd first (it reports to slurmctld); munge last (both daemons authenticate through it).
for daemon in slurmd slurmctld munged; do
    stop_pid_file "$dir/run/$daemon.pid"
done
if [ -L "$etc_conf" ] && [ "$(readlink "$etc_conf")" = "$dir/slurm.conf" ]; then
    rm -f "$etc_conf"
fi
