#!/bin/sh
# Runs an MPI job with its ranks spread over simulated hosts (network
# namespaces from scripts/netns-hosts.sh), talking TCP across a bridge.
# Usage (as root): scripts/mpirun-hosts.sh -n NP [--hosts H] PROGRAM ARGS...
# H defaults to 2; ranks go round-robin over hosts (--map-by node). The exit
# status is the job's. Namespaces it had to create are removed when it ends;
# ones that were already up (scripts/netns-hosts.sh up N) are reused and kept.
# MDSM_MPIRUN names mpirun; MDSM_MPIRUN_HOSTS_ARGS adds mpirun flags.
#
# Transport (Open MPI 4.1.4 + UCX 1.13.1 on Debian 12, checked with a probe of
# Get/Put/Accumulate/Fetch_and_op/32-bit CAS on Win_allocate and Win_create
# windows under MPI_THREAD_MULTIPLE with a helper thread in MPI_Test):
# - osc pt2pt refuses MPI_THREAD_MULTIPLE; osc rdma over btl tcp creates no
#   window (MPI_ERR_WIN: tcp has no RDMA). Only pml ucx + osc ucx work, and
#   Debian's openmpi-mca-params.conf (pml=^ucx osc=^ucx,pt2pt) must be
#   overridden on the command line (ompi_info then shows source: command line /
#   environment). pml_ucx_tls/osc_ucx_tls "any" let UCX use tcp at all.
# - UCX_TLS=self,tcp is required: namespaces share /dev/shm and PIDs, so UCX
#   otherwise picks posix/cma shared memory between "hosts" (4 KiB get 0.2 us,
#   nothing on the veths). With tcp only, a probe's gets show up as bytes on
#   the veths. Every host's interface is eth0, hence UCX_NET_DEVICES=eth0.
# - Measured: 4 KiB MPI_Get between two namespaces, median of 400: 24-31 us on
#   a quiet machine, 45-63 us with other jobs running (2 cores); 4 B about the same.
# - --bind-to none: default core binding piles every "host" onto core 0.
#   MDSM_BIND=none for the same reason: each namespace is a node of its own to
#   MPI but sees all of this machine's PUs, so mdsm's auto binding would put
#   local rank 0 of every "host" on the same core (mdsm also refuses to bind
#   ranks whose host name another node uses; this makes it explicit).
# - Each host gets its own TMPDIR (scripts/netns-agent.sh): with a shared /tmp
#   about 1 run in 10 lost a daemon (session directory races) and hung.
# - Known noise, exit status unaffected: about 1 run in 10 that used windows
#   prints "UCX ERROR ... error during flush: Endpoint timeout" / "disconnect
#   failed" at MPI_Finalize (osc ucx closes its endpoints after peers left).
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
NET=${MDSM_NETNS_NET:-10.77.0}
MPIRUN=${MDSM_MPIRUN:-mpirun}
HOSTS_ARGS=${MDSM_MPIRUN_HOSTS_ARGS:-}
# The ranks inherit this environment; mdsm warns about MDSM_* names it does not know.
unset MDSM_MPIRUN MDSM_MPIRUN_HOSTS_ARGS

usage() { echo "usage: $0 -n NP [--hosts H] PROGRAM ARGS..." >&2; exit 2; }
np=""
hosts=2
while [ $# -gt 0 ]; do
  case $1 in
    -n | -np) [ $# -ge 2 ] || usage; np=$2; shift 2 ;;
    --hosts) [ $# -ge 2 ] || usage; hosts=$2; shift 2 ;;
    --hosts=*) hosts=${1#--hosts=}; shift ;;
    --) shift; break ;;
    -*) usage ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage
for v in "$np" "$hosts"; do
  case $v in '' | *[!0-9]* | 0) usage ;; esac
done

if [ "$(id -u)" -ne 0 ]; then
  echo "mdsm: $0 runs ranks in network namespaces and needs root; run it as root" >&2
  exit 1
fi
if ! command -v ip >/dev/null 2>&1; then
  echo "mdsm: 'ip' not found; install iproute2 (scripts/deps.sh)" >&2
  exit 1
fi
command -v "$MPIRUN" >/dev/null 2>&1 || { echo "mdsm: $MPIRUN not found" >&2; exit 1; }
. "$HERE/env.sh"

# Reuse namespaces someone brought up; otherwise create them and own them.
own=no
for ns in mdsm-head $(seq -f 'mdsm-h%g' 0 $((hosts - 1))); do
  [ -e "/run/netns/$ns" ] || own=yes
done
pid=""
cleanup() {
  if [ "$own" = yes ]; then
    "$HERE/netns-hosts.sh" down # also ends whatever still runs in them
  elif [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
  fi
}
# A signal must not leave namespaces (or ranks in them) behind.
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 129' HUP
[ "$own" = no ] || "$HERE/netns-hosts.sh" up "$hosts"

slots=$(((np + hosts - 1) / hosts))
hostlist=$(seq -f "$NET.%g:$slots" 1 "$hosts" | paste -sd, -)

# mpirun runs in the head namespace: its launcher listens on all addresses.
# Backgrounded and waited for, so that a signal runs the trap at once.
rc=0
# shellcheck disable=SC2086
ip netns exec mdsm-head "$MPIRUN" -n "$np" --host "$hostlist" --map-by node --bind-to none \
  --mca plm rsh --mca plm_rsh_agent "$HERE/netns-agent.sh" --mca plm_rsh_no_tree_spawn 1 \
  --mca oob_tcp_if_include "$NET.0/24" \
  --mca pml ucx --mca osc ucx --mca pml_ucx_tls any --mca pml_ucx_devices any \
  --mca osc_ucx_tls any --mca osc_ucx_devices any \
  --mca btl self,tcp --mca btl_tcp_if_include "$NET.0/24" \
  -x UCX_TLS=self,tcp -x UCX_NET_DEVICES=eth0 -x MDSM_BIND="${MDSM_BIND:-none}" \
  $HOSTS_ARGS "$@" &
pid=$!
wait "$pid" || rc=$?
pid=""
cleanup
exit "$rc"
