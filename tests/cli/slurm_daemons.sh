# Real Slurm daemons for the command-line tests (sourced after lib.sh, with TMP, a folder open to every
# user, and TEST_NAME set): munged, slurmctld and slurmd on one node (this machine, every file in $TMP,
# free ports, no cgroups, MpiDefault=none), stopped with the test's jobs at its exit, and the
# helpers that wait for jobs and read their state. Needs root (slurmd starts the job's processes) and
# Debian's slurmctld, slurmd, slurm-client and munge (tools/install-deps.sh).
export SLURM_CONF="$TMP/slurm.conf"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
# ranks skip AddressSanitizer's leak check: see test_distill_mpi.sh
export MPIRUN="mpirun -x ASAN_OPTIONS=detect_leaks=0"
NODE=$(hostname -s)
daemons="" jobs=""

# stop_all: cancels the test's jobs, then stops the daemons (SIGKILL for any that lingers)
stop_all() {
  if [ -n "$jobs" ]; then
    timeout 5 scancel $jobs 2>/dev/null
    within 10 no_jobs_left
  fi
  for pid in $daemons; do kill "$pid" 2>/dev/null; done
  for pid in $daemons; do within 5 gone "$pid" || kill -KILL "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap stop_all EXIT
trap 'exit 1' INT TERM HUP

no_jobs_left() { [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ]; }
gone() { ! kill -0 "$1" 2>/dev/null; }
node_idle() { [ "$(timeout 5 sinfo -h -n "$NODE" -o %T 2>/dev/null)" = idle ]; }
# job_field JOB FIELD: FIELD's value in `scontrol show job JOB`
job_field() { timeout 5 scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p"; }
job_restarted() { [ "$(job_field "$1" Restarts)" = 1 ]; }
job_over() { case $(job_field "$1" JobState) in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) return 0;; esac; return 1; }
logged() { grep -q "$2" "$1" 2>/dev/null; }

# give_up WHY: the daemons or a job misbehave beyond what the later checks can say; shows the logs
give_up() {
  bad "$1"
  for log in "$TMP"/*.log "$TMP"/*.out; do echo "--- $log" >&2; tail -15 "$log" >&2; done
  summarize "$TEST_NAME"
  exit 1
}

# free_ports N: N TCP ports nothing listens on now, so leftover daemons of an earlier run cannot collide
free_ports() { python3 -c "import socket,sys
socks=[socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in socks))" "$1"; }

# write_config: a single-node cluster on this machine, every file in $TMP, no cgroups and no accounting.
# cred_expire is also how long a requeued job waits before it may start again (Slurm's default: 120 s);
# the scheduler looks at pending jobs every second.
write_config() {
  set -- $(free_ports 2)
  mkdir -p "$TMP/state" "$TMP/spool"
  cat >"$SLURM_CONF" <<EOF
ClusterName=bcostest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$1
SlurmdPort=$2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$TMP/munge.sock,cred_expire=10
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
SchedulerParameters=sched_interval=1
ReturnToService=2
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=100 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

# start_daemons: munged with its own key and socket, slurmctld and slurmd, each in the foreground of
# a background job so that stop_all knows its pid (the Slurm daemons log to stderr then), in a
# session of its own so that a Ctrl-C reaches the test alone: stop_all cancels the jobs before the
# daemons stop (a job left without slurmd stays); returns once the node is idle
start_daemons() {
  for tool in mungekey munged slurmctld slurmd sbatch; do
    command -v "$tool" >/dev/null || give_up "$tool is not installed: run tools/install-deps.sh"
  done
  [ "$(id -u)" -eq 0 ] || give_up "slurmd must run as root to start the jobs' processes"
  mungekey --create --keyfile="$TMP/munge.key" || give_up "mungekey cannot create a key"
  setsid munged --foreground --socket="$TMP/munge.sock" --key-file="$TMP/munge.key" --pid-file="$TMP/munged.pid" \
    --seed-file="$TMP/munge.seed" --log-file="$TMP/munged.log" 2>/dev/null &
  daemons="$daemons $!"
  within 10 test -S "$TMP/munge.sock" || give_up "munged does not start"
  write_config
  setsid slurmctld -D -i >"$TMP/slurmctld.log" 2>&1 &
  daemons="$daemons $!"
  setsid slurmd -D -N "$NODE" >"$TMP/slurmd.log" 2>&1 &
  daemons="$daemons $!"
  within 30 node_idle || give_up "node $NODE is not idle after 30 s: $(sinfo 2>&1)"
}
