#!/usr/bin/env bash
# A one-machine Slurm cluster in a folder, for trying tools/slurm/ and for the
# test: munged with a key made for it, slurmctld and slurmd started by hand,
# one node named after this host, every state, spool, socket, pid and log file
# under DIR. Needs root (slurmd launches jobs as their user) and Debian's
# slurm-wlm and munge (tools/install-deps.sh installs them).
#
#   tools/slurm/local-cluster.sh start DIR [OWNER_PID]   # prints the SLURM_CONF to export
#   tools/slurm/local-cluster.sh stop DIR                # idempotent
#
# With OWNER_PID, a watchdog stops the cluster when that process exits, so a
# test that is killed does not leave daemons behind.
set -euo pipefail

usage() { echo "usage: $0 start DIR [OWNER_PID] | stop DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
action=$1
dir=$2

stop_pid_file() {  # TERM, then KILL after 5 s, the process named in a pid file we wrote
  local f=$1 pid
  [ -s "$f" ] || return 0
  pid=$(cat "$f")
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

stop_cluster() {
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/slurm.conf" ] && [ -s "$dir/slurmctld.pid" ]; then
    # Jobs first, so slurmd's step daemons end with them.
    SLURM_CONF="$dir/slurm.conf" timeout 10 scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 30); do
      [ -z "$(SLURM_CONF="$dir/slurm.conf" timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  stop_pid_file "$dir/slurmd.pid"
  stop_pid_file "$dir/slurmctld.pid"
  stop_pid_file "$dir/watchdog.pid"
  stop_pid_file "$dir/munge/munged.pid"
}

free_port() {  # a TCP port nobody listens on now
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_cluster() {
  local owner=${3:-}
  for tool in munged mungekey slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
    command -v "$tool" >/dev/null || { echo "$0: $tool not found; run tools/install-deps.sh" >&2; exit 1; }
  done
  [ "$(id -u)" -eq 0 ] || { echo "$0: must run as root (slurmd starts jobs as their user)" >&2; exit 1; }
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
  chmod 700 "$dir/munge"

  mungekey --create --force --keyfile="$dir/munge/munge.key" >/dev/null
  chmod 400 "$dir/munge/munge.key"
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"

  local host ctld_port slurmd_port
  host=$(hostname -s)
  ctld_port=${CELMATCH_SLURMCTLD_PORT:-$(free_port)}
  slurmd_port=${CELMATCH_SLURMD_PORT:-$(free_port)}
  cat > "$dir/slurm.conf" <<CONF
ClusterName=celmatch-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
# No cgroups: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Finished jobs stay visible to scontrol for 10 minutes; a job whose
# dependency failed is cancelled instead of waiting for ever.
MinJobAge=600
DependencyParameters=kill_invalid_depend
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -f "$SLURM_CONF" -c
  slurmd -f "$SLURM_CONF" -N "$host"

  if [ -n "$owner" ]; then
    setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" stop "$3"' \
      watchdog "$owner" "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")" "$dir" \
      </dev/null >/dev/null 2>&1 &
    echo $! > "$dir/watchdog.pid"
  fi

  local state=""
  for _ in $(seq 150); do
    state=$(timeout 5 sinfo -h -n "$host" -o %T 2>/dev/null || true)
    [ "$state" = "idle" ] && break
    sleep 0.2
  done
  if [ "$state" != "idle" ]; then
    echo "$0: the node did not come up (state '${state}'); logs in $dir/log" >&2
    tail -n 20 "$dir/log/"*.log >&2 || true
    stop_cluster
    exit 1
  fi
  echo "export SLURM_CONF=$SLURM_CONF"
}

case "$action" in
  start) start_cluster "$@" ;;
  stop) stop_cluster ;;
  *) usage ;;
esac
