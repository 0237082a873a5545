#!/bin/bash
# Starts a one-node Slurm from Debian's packages (munged, slurmctld, slurmd),
# runs an example and a test suite through `srun --mpi=pmix` and `sbatch`,
# checks their output and exit codes, and stops everything it started, on
# success or failure. Root only (the daemons run as root, munged as munge).
# Usage: scripts/slurm-one-node.sh [build dir]   (default build/relwithdebinfo)
# The build dir needs the examples and mpi-tests/test_litmus built.
# Everything lives in MDSM_SLURM_DIR (default /tmp/mdsm-slurm), which the script
# makes and marks, and wipes at the start only if marked; the daemons listen on
# MDSM_SLURM_PORT and the port after it (default 16817), away from a site
# Slurm's 6817. Daemons a killed earlier run left behind are found through the
# pid list in that directory and stopped first.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/relwithdebinfo}
RUN=${MDSM_SLURM_DIR:-/tmp/mdsm-slurm}
PORT=${MDSM_SLURM_PORT:-16817}
# The jobs inherit this environment; mdsm warns about MDSM_* names it does not know.
unset MDSM_SLURM_DIR MDSM_SLURM_PORT
WAIT_S=60  # for a daemon to come up
JOB_S=300  # for one job
start=$(date +%s)

say() { echo "slurm-one-node: $*"; }
die() {
  say "FAILED: $*"
  exit 1
}

case $RUN in
/?*) ;;
*) die "MDSM_SLURM_DIR must be an absolute path, not '$RUN'" ;;
esac
[ "$(id -u)" -eq 0 ] || die "run as root: it starts munged, slurmctld and slurmd"
for f in examples/jacobi examples/matmul examples/nbody examples/taskqueue examples/hybrid \
  mpi-tests/test_litmus; do
  [ -x "$BUILD/$f" ] || die "$BUILD/$f is missing: build first (cmake --build $BUILD)"
done
scripts/deps.sh slurm-wlm munge

# ---- stopping what this script started (now or in an earlier run) ---------------

# Stops each daemon in $RUN/pids that is still the process it was: same name,
# and its command line names $RUN. TERM, then KILL after 10 s.
stop_daemons() {
  [ -f "$RUN/pids" ] || return 0
  local name pid live=()
  while read -r name pid; do
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ] &&
      tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$RUN/"; then
      kill -TERM "$pid" 2>/dev/null && live+=("$pid")
    fi
  done < <(tac "$RUN/pids") # slurmd before slurmctld before munged
  for _ in $(seq 100); do
    local any=0
    for pid in "${live[@]}"; do
      kill -0 "$pid" 2>/dev/null && any=1
    done
    [ $any -eq 0 ] && break
    sleep 0.1
  done
  for pid in "${live[@]}"; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  rm -f "$RUN/pids"
}

# Cancels the jobs this run submitted, then stops the daemons.
cleanup() {
  local rc=$?
  if [ -s "$RUN/jobs" ]; then
    xargs -r timeout 10 scancel <"$RUN/jobs" 2>/dev/null || true
    for _ in $(seq 30); do # let slurmd end the jobs' steps before it stops
      [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_daemons
  if [ $rc -ne 0 ]; then
    for log in "$RUN"/*.log; do
      [ -f "$log" ] && { echo "---- last lines of $log"; tail -n 15 "$log"; }
    done
    say "logs and job output kept in $RUN"
  else
    rm -rf "$RUN"
  fi
  exit $rc
}

stop_daemons
# Only a directory this script made (it leaves a marker) is ever wiped.
if [ -e "$RUN" ]; then
  [ -f "$RUN/.mdsm-slurm" ] || die "$RUN exists and was not made by this script; remove it or set MDSM_SLURM_DIR"
  rm -rf "$RUN"
fi
mkdir -p "$RUN/state" "$RUN/spool" "$RUN/munge"
: >"$RUN/.mdsm-slurm"
trap cleanup EXIT
trap 'exit 130' INT TERM
: >"$RUN/jobs"

for p in "$PORT" $((PORT + 1)); do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
    die "port $p is in use by another program; set MDSM_SLURM_PORT to a free pair"
  fi
done

# Starts a daemon in the foreground as a child of this shell and records it.
launch() {
  local name=$1
  shift
  "$@" >"$RUN/$name.out" 2>&1 &
  echo "$name $!" >>"$RUN/pids"
}

# Waits up to WAIT_S seconds for a command to succeed.
wait_for() {
  local what=$1
  shift
  for _ in $(seq $((WAIT_S * 2))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "$what did not happen within $WAIT_S s"
}

# ---- munge: its own key and socket, so a site munged is left alone ----------------
chown munge:munge "$RUN/munge"
chmod 755 "$RUN/munge" # munged wants its socket directory open to all
dd if=/dev/urandom of="$RUN/munge/munge.key" bs=1024 count=1 status=none
chown munge:munge "$RUN/munge/munge.key"
chmod 400 "$RUN/munge/munge.key"
SOCK=$RUN/munge/munge.socket
launch munged setpriv --reuid=munge --regid=munge --init-groups \
  munged --foreground --socket="$SOCK" --key-file="$RUN/munge/munge.key" \
  --pid-file="$RUN/munge/munged.pid" --log-file="$RUN/munge/munged.log" \
  --seed-file="$RUN/munge/munged.seed"
wait_for "munged answering on $SOCK" sh -c "munge -S '$SOCK' -n | unmunge -S '$SOCK'"

# ---- slurm.conf: one node as slurmd -C describes this machine -------------------
NODE_LINE=$(slurmd -C | grep '^NodeName=')
NODE=${NODE_LINE%% *}
NODE=${NODE#NodeName=}
cat >"$RUN/slurm.conf" <<EOF
ClusterName=mdsm-one-node
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$RUN/state
SlurmdSpoolDir=$RUN/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$RUN/slurmctld.log
SlurmdLogFile=$RUN/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=600
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=30 State=UP
EOF
export SLURM_CONF=$RUN/slurm.conf

launch slurmctld slurmctld -D -i -f "$SLURM_CONF"
wait_for "slurmctld answering" scontrol ping
launch slurmd slurmd -D -f "$SLURM_CONF"
wait_for "node $NODE idle" sh -c "sinfo -h -n '$NODE' -o %t | grep -qx idle"
say "one-node Slurm up on $NODE in $(($(date +%s) - start)) s ($RUN)"

# ---- the checks -------------------------------------------------------------------

# Open MPI refuses root without these; srun and sbatch pass the environment on.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
LITMUS=("$BUILD/mpi-tests/test_litmus" --gtest_color=no)

# expect NAME RC REGEX FILE GOT T0: FILE must hold a line matching REGEX, GOT be
# RC; T0 is when the check started.
expect() {
  local name=$1 want=$2 re=$3 file=$4 got=$5 t0=$6
  if [ "$got" -ne "$want" ]; then
    tail -n 20 "$file" || true
    die "$name: exit code $got, expected $want"
  fi
  grep -qE -- "$re" "$file" || {
    tail -n 20 "$file" || true
    die "$name: output has no line matching '$re'"
  }
  say "$name: ok (exit $got, output matches '$re') in $(($(date +%s) - t0)) s"
}

# check_srun NAME RC REGEX COMMAND...
check_srun() {
  local name=$1 want=$2 re=$3 rc=0 t0
  t0=$(date +%s)
  shift 3
  timeout "$JOB_S" srun --mpi=pmix -n 2 -t 10 "$@" >"$RUN/$name.txt" 2>&1 || rc=$?
  expect "$name" "$want" "$re" "$RUN/$name.txt" "$rc" "$t0"
}

# check_sbatch NAME RC STATE REGEX SBATCH-ARGS...: submits, waits (bounded) for
# the job to end, and checks its final state and exit code in scontrol.
# (Polling scontrol is quicker than sbatch --wait, which checks every 10 s.)
check_sbatch() {
  local name=$1 want=$2 state=$3 re=$4 t0 id info=""
  t0=$(date +%s)
  shift 4
  # MDSM_BUILD tells the examples' sbatch scripts where the build is.
  id=$(MDSM_BUILD=$BUILD sbatch --parsable -n 2 -t 10 -J "mdsm-$name" -o "$RUN/$name-%j.txt" "$@" |
    cut -d';' -f1) || die "$name: sbatch failed"
  [ -n "$id" ] || die "$name: sbatch gave no job id"
  echo "$id" >>"$RUN/jobs"
  for _ in $(seq $((JOB_S * 4))); do
    info=$(scontrol show job -o "$id") || { sleep 0.25; continue; } # slurmctld busy: ask again
    echo "$info" | grep -qE 'JobState=(PENDING|CONFIGURING|RUNNING|COMPLETING) ' || break
    sleep 0.25
  done
  if echo "$info" | grep -qE 'JobState=(PENDING|CONFIGURING|RUNNING|COMPLETING) '; then
    die "$name: job $id did not end within $JOB_S s: $info"
  fi
  echo "$info" | grep -q "JobState=$state " || die "$name: job $id: want $state, scontrol says: $info"
  local code
  code=$(echo "$info" | sed -n 's/.* ExitCode=\([0-9]*\):\([0-9]*\) .*/\1 \2/p')
  [ "${code#* }" = 0 ] || die "$name: job $id ended by signal ${code#* }: $info"
  expect "$name (job $id, $state)" "$want" "$re" "$RUN/$name-$id.txt" "${code% *}" "$t0"
}

check_srun srun-jacobi 0 '^jacobi: verified' "$BUILD/examples/jacobi" -n 64 -i 20 -q
check_srun srun-litmus 0 '^\[  PASSED  \]' "${LITMUS[@]}"
# A failing job must fail: the exit code of a rank reaches srun and sbatch.
check_srun srun-bad-option 2 '^usage: jacobi' "$BUILD/examples/jacobi" -n 1
check_sbatch sbatch-jacobi 0 COMPLETED '^jacobi: verified' examples/slurm/jacobi.sbatch -n 64 -i 20
check_sbatch sbatch-litmus 0 COMPLETED '^\[  PASSED  \]' --wrap "srun --mpi=pmix ${LITMUS[*]}"
check_sbatch sbatch-matmul 0 COMPLETED '^matmul: verified' examples/slurm/matmul.sbatch -n 64 -q
check_sbatch sbatch-nbody 0 COMPLETED '^nbody: verified' examples/slurm/nbody.sbatch \
  -n 128 -i 3 -b 32 -q
check_sbatch sbatch-taskqueue 0 COMPLETED '^taskqueue: verified' examples/slurm/taskqueue.sbatch \
  -n 128 -i 200 -t 32 -q
# Two ranks of one core each on this node (its cores are all there is), two threads each.
check_sbatch sbatch-hybrid 0 COMPLETED '^hybrid: verified' --cpus-per-task=1 \
  examples/slurm/hybrid.sbatch -n 64 -i 20 -t 2 -q
check_sbatch sbatch-bad-option 2 FAILED '^usage: jacobi' examples/slurm/jacobi.sbatch -n 1

say "passed in $(($(date +%s) - start)) s"
