#!/usr/bin/env bash
# Stand up a one-node Slurm cluster on localhost from Debian's packages (slurmctld, slurmd, slurm-client,
# munge): no cgroups, no accounting database, every file under one folder, daemons recorded by PID file.
#
#   ci/slurm/start.sh [DIR]     # DIR defaults to a new temporary folder; printed on the last line
#   ci/slurm/stop.sh DIR        # stops the daemons by PID and removes the /etc/slurm/slurm.conf link
#
# Needs root (slurmd runs jobs as their owner). Slurm's tools find the cluster through
# /etc/slurm/slurm.conf, which is made a link to DIR/slurm.conf: jobs do not see SLURM_CONF (the Snakemake
# Slurm job step removes SLURM_* variables). An existing regular file there is left alone and is an error.
# Ports: SLURMCTLD_PORT (default 6817) and SLURMD_PORT (default 6818).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${1:-$(mktemp -d "${TMPDIR:-/tmp}/qvedbench-slurm.XXXXXX")}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
etc_conf=/etc/slurm/slurm.conf

fail() { echo "start.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root"
for tool in munged mungekey slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null || fail "$tool not found (apt-get install slurmctld slurmd slurm-client munge)"
done
if [ -e "$etc_conf" ] && [ ! -L "$etc_conf" ]; then
    fail "$etc_conf is a real file (an existing cluster?): not touching it"
fi

mkdir -p "$dir"/{munge,state,spool,run,log}
chmod 0755 "$dir" "$dir/munge"   # munged refuses a socket folder that others cannot reach

# munge: a fresh key, its own socket, PID and log under DIR. --force: a killed munged leaves a stale socket.
[ -f "$dir/munge.key" ] || mungekey --create --keyfile="$dir/munge.key"
chmod 0400 "$dir/munge.key"
munged --force --key-file="$dir/munge.key" --socket="$dir/munge/munge.socket.2" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"

# The node line as slurmd detects it, renamed to localhost (UpTime is on a second line: dropped).
node="$(slurmd -C | head -n 1 | sed -E 's/^NodeName=[^ ]+/NodeName=localhost/')"
sed -e "s|@DIR@|$dir|g" -e "s|@NODE@|$node|" -e "s|@USER@|$(id -un)|" \
    -e "s|@PORT@|${SLURMCTLD_PORT:-6817}|" -e "s|@SLURMD_PORT@|${SLURMD_PORT:-6818}|" \
    "$here/slurm.conf.in" > "$dir/slurm.conf"
mkdir -p "$(dirname "$etc_conf")"
ln -sfn "$dir/slurm.conf" "$etc_conf"
export SLURM_CONF="$dir/slurm.conf"

slurmctld -f "$dir/slurm.conf"
slurmd -f "$dir/slurm.conf" -N localhost

for _ in $(seq 1 60); do
    state="$(sinfo -h -n localhost -o %t 2>/dev/null || true)"
    if [ "$state" = idle ]; then
        echo "$dir"
        exit 0
    fi
    sleep 0.5
done
echo "start.sh: node not idle after 30 s (state: '${state:-none}'); logs in $dir/log" >&2
"$here/stop.sh" "$dir" >&2 || true
exit 1
