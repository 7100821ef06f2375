#!/bin/bash
# A one-node Slurm cluster on loopback for CI: munged, slurmctld and slurmd started
# by hand (no systemd), without cgroups (proctrack/linuxproc, task/none), with this
# machine's CPUs. Source it, then `start_cluster` and `stop_cluster`; on a failure
# the daemons' own logs are printed.
#
# Needs Debian's slurm-wlm and munge installed.

slurm_dir=${slurm_dir:-/tmp/relaysim-slurm}

slurm_logs() {
  for f in "$slurm_dir"/log/*.log; do
    echo "---- $f"
    tail -n 40 "$f"
  done
}

start_cluster() {
  local node cpus
  # Daemons a package install may have started are ours to replace.
  stop_cluster
  node=$(hostname -s)
  cpus=$(nproc)
  rm -rf "$slurm_dir"
  mkdir -p "$slurm_dir"/{log,state,spool} /etc/slurm /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  chmod 0755 /run/munge
  [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
  # munged as its own user, as its package runs it.
  su -s /bin/sh munge -c "munged --socket=/run/munge/munge.socket.2" \
    || { echo "munged did not start"; cat /var/log/munge/munged.log 2>/dev/null; return 1; }
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=relaysim-ci
# Loopback only: bind to the hosts' addresses given here (127.0.0.1), not to all.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$slurm_dir/state
SlurmdSpoolDir=$slurm_dir/spool
SlurmctldPidFile=$slurm_dir/slurmctld.pid
SlurmdPidFile=$slurm_dir/slurmd.pid
SlurmctldLogFile=$slurm_dir/log/slurmctld.log
SlurmdLogFile=$slurm_dir/log/slurmd.log
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=ci Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  slurmctld -c || { slurm_logs; return 1; }
  slurmd || { slurm_logs; return 1; }
  # Ready when the node takes jobs.
  for _ in $(seq 60); do
    if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      sinfo
      return 0
    fi
    sleep 1
  done
  echo "the Slurm node did not become idle in 60 s:"
  sinfo -N -l || true
  slurm_logs
  return 1
}

stop_cluster() {
  scancel --user=root 2>/dev/null || true
  local d
  for d in slurmd slurmctld munged; do
    pkill -x "$d" 2>/dev/null || true
  done
  for _ in $(seq 10); do
    pgrep -x slurmd >/dev/null || pgrep -x slurmctld >/dev/null || pgrep -x munged >/dev/null || return 0
    sleep 0.5
  done
  for d in slurmd slurmctld munged; do
    pkill -9 -x "$d" 2>/dev/null || true
  done
}
