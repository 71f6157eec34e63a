# shellcheck shell=bash
# Sourced by bench/pool.sh: a real single-node Slurm cluster in directory $1 (root; Debian
# slurm-wlm and munge), as test/pool/slurm_cluster.cc starts one for the tests: munged on a
# private socket, slurmctld and slurmd in the foreground. start_slurm DIR exports SLURM_CONF;
# stop_slurm ends the daemons. The node declares at least 4 CPUs (SLURM_NODE_CPUS) so that
# 4 one-CPU worker jobs run at once on a 2-core machine: the benchmark times booting, not
# computing.
slurm_pids=()
start_slurm() {
  local dir="$1" node cpus
  node="$(hostname -s)"
  cpus="${SLURM_NODE_CPUS:-$(($(nproc) > 4 ? $(nproc) : 4))}"
  mkdir -p "$dir/munge" "$dir/slurm/state" "$dir/slurm/spool" "$dir/slurm/log"
  chmod 755 "$dir" "$(dirname "$dir")"  # munged runs as munge and must reach its directory
  /usr/sbin/mungekey --create --keyfile="$dir/munge/munge.key"
  chown -R munge:munge "$dir/munge"
  chmod 600 "$dir/munge/munge.key"
  runuser -u munge -- /usr/sbin/munged --foreground --force --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/munge.socket" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" 2>"$dir/munged.err" &
  slurm_pids+=($!)
  for _ in $(seq 100); do [[ -S "$dir/munge/munge.socket" ]] && break; sleep 0.05; done
  cat >"$dir/slurm/slurm.conf" <<CONF
ClusterName=duxbench
MailProg=/bin/true
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmctldPort=$((20000 + RANDOM % 20000))
SlurmdPort=$((40000 + RANDOM % 20000))
StateSaveLocation=$dir/slurm/state
SlurmdSpoolDir=$dir/slurm/spool
SlurmctldPidFile=$dir/slurm/slurmctld.pid
SlurmdPidFile=$dir/slurm/slurmd.pid
SlurmctldLogFile=$dir/slurm/log/slurmctld.log
SlurmdLogFile=$dir/slurm/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=$node CPUs=$cpus RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm/slurm.conf"
  slurmctld -D -i -f "$SLURM_CONF" 2>"$dir/slurmctld.err" &
  slurm_pids+=($!)
  slurmd -D -f "$SLURM_CONF" 2>"$dir/slurmd.err" &
  slurm_pids+=($!)
  for _ in $(seq 300); do
    [[ "$(sinfo --noheader --format=%T 2>/dev/null)" == idle* ]] && return 0
    sleep 0.1
  done
  echo "the Slurm node did not become idle" >&2
  return 1
}
stop_slurm() {
  local i p
  for ((i = ${#slurm_pids[@]} - 1; i >= 0; i--)); do kill "${slurm_pids[i]}" 2>/dev/null || true; done
  for _ in $(seq 100); do
    p=0
    for i in "${slurm_pids[@]}"; do kill -0 "$i" 2>/dev/null && p=1; done
    ((p)) || break
    sleep 0.1
  done
  for i in "${slurm_pids[@]}"; do kill -9 "$i" 2>/dev/null || true; done
  wait "${slurm_pids[@]}" 2>/dev/null || true
  slurm_pids=()
}
