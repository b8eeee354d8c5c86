# A single-node Slurm cluster in a temporary directory, for the tests: munged with its own key
# and socket, slurmctld and slurmd (Debian 12's slurm-wlm 22.05) on free ports, a generated
# slurm.conf with cgroup-free plugins (proctrack/linuxproc, task/none, jobacct_gather/none), so it
# runs as root in a container. Source it, call slurm_up DIR (sets SLURM_CONF), slurm_down at exit.
# slurm_up returns 77 with a reason on stdout when Slurm cannot run here at all.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

slurm_up() {
  local dir=$1
  SLURM_DIR=$dir
  for b in munged mungekey slurmctld slurmd sbatch squeue scontrol; do
    command -v "$b" >/dev/null || { echo "SKIP: $b not installed (scripts/setup installs slurm-wlm and munge)"; return 77; }
  done
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: slurmd must run as root to start jobs (not root here)"; return 77; }
  mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/munge"
  # munged wants the socket's directories searchable by all, the key's not writable by others.
  chmod 755 "$dir" "$dir/munge"
  mungekey -c -k "$dir/munge/munge.key" -b 1024 2>"$dir/log/mungekey.err" ||
    { echo "SKIP: mungekey failed: $(cat "$dir/log/mungekey.err")"; return 77; }
  munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" 2>"$dir/log/munged.err" ||
    { echo "FAIL: munged did not start: $(cat "$dir/log/munged.err" "$dir/log/munged.log" 2>/dev/null)"; return 1; }
  local node ctl_port d_port
  # slurmctld runs only where SlurmctldHost names this host; the node takes the same name.
  node=$(hostname -s)
  ctl_port=$(free_port)
  d_port=$(free_port)
  while [ "$d_port" = "$ctl_port" ]; do d_port=$(free_port); done
  # The node's real sockets, cores and memory, as slurmd sees them (it refuses a node described bigger).
  local hw
  hw=$(slurmd -C 2>/dev/null | head -1 | sed -e 's/^NodeName=[^ ]* //')
  [ -n "$hw" ] || hw="CPUs=$(nproc)"
  cat >"$dir/slurm.conf" <<CONF
ClusterName=attnbench-test
SlurmctldHost=$node(127.0.0.1)
MailProg=/bin/true
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
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
SlurmdTimeout=60
InactiveLimit=0
MinJobAge=300
KillWait=5
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node $hw State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$dir/slurm.conf
  slurmctld -i -f "$SLURM_CONF" 2>"$dir/log/slurmctld.err" ||
    { echo "FAIL: slurmctld did not start: $(tail -5 "$dir/log/slurmctld.err" "$dir/log/slurmctld.log" 2>/dev/null)"; return 1; }
  slurmd -N "$node" -f "$SLURM_CONF" 2>"$dir/log/slurmd.err" ||
    { echo "FAIL: slurmd did not start: $(tail -5 "$dir/log/slurmd.err" "$dir/log/slurmd.log" 2>/dev/null)"; return 1; }
  local _
  for _ in $(seq 1 100); do
    if sinfo -h -N -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then return 0; fi
    sleep 0.2
  done
  echo "FAIL: the node did not come up: $(sinfo -N 2>&1; tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log")"
  return 1
}

slurm_down() {
  [ -n "${SLURM_DIR:-}" ] || return 0
  local f pid
  scontrol shutdown >/dev/null 2>&1
  # The daemons this cluster started: their command lines name its slurm.conf (pid files can
  # name a parent that has already exited).
  for pid in $(pgrep -f -- "-f $SLURM_DIR/slurm.conf" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  for f in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/munge/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
  done
  for f in "$SLURM_DIR/slurmd.pid" "$SLURM_DIR/slurmctld.pid" "$SLURM_DIR/munge/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null
  done
  return 0
}
