#!/bin/sh
# Runs the benchmark set of the fast-path work and prints one table: each
# kernel's mdsm figure, the baseline measured in the same run, the ratio and
# its goal. Run on a quiet machine: with 2 cores, anything else running turns
# the figures into noise.
# Usage: perf/run-all.sh [--hosts] [BUILD_DIR]     (BUILD_DIR: build/release)
#   --hosts  also the rows across 2 simulated hosts (root; scripts/mpirun-hosts.sh)
# MPIRUN names the launcher (default mpirun); BENCH_REPS passes through.
set -u
HOSTS=0
if [ "${1:-}" = "--hosts" ]; then
    HOSTS=1
    shift
fi
BUILD=${1:-build/release}
HERE=$(cd "$(dirname "$0")" && pwd)
BIN="$BUILD/perf"
MPIRUN=${MPIRUN:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ ! -x "$BIN/bench_jacobi" ]; then
    echo "run-all.sh: no benchmarks in $BIN (build them first: cmake --build $BUILD)" >&2
    exit 2
fi
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
failed=0

# row KERNEL GOAL ROW_PATTERN LAUNCH... : runs LAUNCH, takes the first table
# row matching ROW_PATTERN ("  name  mdsm baseline ratio") and prints it.
row() {
    kernel=$1 goal=$2 pattern=$3
    shift 3
    if ! "$@" >"$LOG" 2>&1; then
        printf '| %s | failed: %s | | | %s |\n' "$kernel" "$*" "$goal"
        sed 's/^/#   /' "$LOG" | tail -5
        failed=1
        return
    fi
    if grep -q "ERROR\|DIFFER" "$LOG"; then
        printf '| %s | wrong results: %s | | | %s |\n' "$kernel" "$*" "$goal"
        failed=1
        return
    fi
    grep -- "^  .*$pattern" "$LOG" | head -1 |
        awk -v k="$kernel" -v g="$goal" '{ n = NF; printf "| %s | %s | %s | %s | %s |\n", k, $(n-2), $(n-1), $n, g }'
}

one_node() {
    "$MPIRUN" -n 2 "$@"
}
off() {
    MDSM_NODE_SHARING=off "$MPIRUN" -n 2 "$@"
}
hosts() {
    "$HERE/../scripts/mpirun-hosts.sh" -n 2 "$@"
}

echo "| kernel (2 ranks) | mdsm (us) | baseline (us) | ratio | goal |"
echo "| --- | --- | --- | --- | --- |"
row "read fault, node sharing off / fault floor (signal, mprotect, get)" "<= 1.3" \
    "vs fault floor" off "$BIN/bench_read_fault"
row "sequential read scan, node sharing off / MPI_Get of 256 KiB chunks" "<= 1.5" \
    "scan, per" off "$BIN/bench_scan"
row "the scan after one mdsm_prefetch of the range / the same MPI_Get" "" \
    "after mdsm_prefetch" off "$BIN/bench_scan"
row "every 4th page in address order / a get each + one flush" "" \
    "every 4th" off "$BIN/bench_scan"
# Goals against MPI_Win_create windows: mdsm's home pages are such memory (a
# file mapped into the global space), whereas MPI_Win_allocate's on one node is
# shared memory that MPI reaches by plain loads and stores.
row "write fault + release, node sharing off / page MPI_Put + flush (MPI_Win_allocate)" "" \
    "write+release vs Put page +" off "$BIN/bench_write_release"
row "write fault + release, node sharing off / the same on MPI_Win_create" "" \
    "vs Put page on MPI_Win_create" off "$BIN/bench_write_release"
row "rewrite + release (written last interval too), node sharing off / the same" "<= 2" \
    "rewrite vs Put page on Win_create" off "$BIN/bench_write_release"
row "lock pair with a shared counter, node sharing off / MPI_Win_lock pair (MPI_Win_allocate)" "" \
    "counter, per increment" off "$BIN/bench_lock"
row "lock pair with a shared counter, node sharing off / the same on MPI_Win_create" "<= 4" \
    "vs MPI_Win_create window" off "$BIN/bench_lock"
row "Jacobi 2048^2 x 100, node sharing off / hand MPI" "<= 1.2" \
    "mdsm vs MPI" off "$BIN/bench_jacobi" 2048 100
row "Jacobi 2048^2 x 100, node sharing on / hand MPI" "<= 1.2" \
    "mdsm vs MPI" one_node "$BIN/bench_jacobi" 2048 100
row "fetch_add on the other rank's cell, node sharing on / MPI_Fetch_and_op" "" \
    "fetch_add" one_node "$BIN/bench_atomic"
row "matmul 512^2 on 2 ranks, node sharing off / 1 rank alone" "< 1" \
    "ranks vs 1 rank" off "$BIN/bench_matmul"
if [ "$HOSTS" = 1 ]; then
    row "read fault across 2 hosts / MPI_Get" "" "read fault," hosts "$BIN/bench_read_fault"
    row "sequential read scan across 2 hosts / MPI_Get of 256 KiB chunks" "<= 1.5" \
        "scan, per" hosts "$BIN/bench_scan"
    row "matmul 512^2 on 2 ranks across 2 hosts / 1 rank alone" "< 1" \
        "ranks vs 1 rank" hosts "$BIN/bench_matmul"
    row "Jacobi 2048^2 x 100 across 2 hosts / hand MPI" "<= 1.3" \
        "mdsm vs MPI" hosts "$BIN/bench_jacobi" 2048 100
    row "worst fault while the home computes, 2 hosts / worst while it waits in MPI" \
        "<= 1 ms" "worst fault" hosts "$BIN/bench_stall"
fi
exit $failed
