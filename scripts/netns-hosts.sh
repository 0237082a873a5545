#!/bin/sh
# Simulated hosts on one machine: each "host" is a network namespace with a
# veth into a bridge in the root namespace, so MPI ranks in different hosts
# can only talk TCP over that bridge (PLATFORM.md, "Several hosts").
#
# Usage (as root):
#   scripts/netns-hosts.sh up N        hosts mdsm-h0..h(N-1) + head namespace mdsm-head
#   scripts/netns-hosts.sh down        remove everything this script created
#   scripts/netns-hosts.sh status      list the namespaces and their addresses
#   scripts/netns-hosts.sh agent HOST CMD...   run CMD on HOST like ssh (scripts/netns-agent.sh)
#
# Host names are IP addresses, so nothing is added to /etc/hosts: host i is
# $NET.(i+1), the head (where mpirun runs) is $NET.254. The bridge has no
# address and there is no default route: the /24 reaches only these namespaces.
set -eu
NET=${MDSM_NETNS_NET:-10.77.0}   # first three octets of the private /24
BR=mdsm-br0
HERE=$(cd "$(dirname "$0")" && pwd)

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "mdsm: $0 $1 needs root (network namespaces); run it as root" >&2
    exit 1
  fi
  if ! command -v ip >/dev/null 2>&1; then
    echo "mdsm: 'ip' not found; install iproute2 (scripts/deps.sh)" >&2
    exit 1
  fi
}

# Namespaces and root-side links we own are named mdsm-* (veths v-mdsm-*).
our_ns() { ip netns list 2>/dev/null | awk '$1 ~ /^mdsm-/ {print $1}'; }

down() {
  # Nothing of ours left: succeed even without root, so cleanup steps never fail.
  if [ -z "$(our_ns)" ] && ! ip link show "$BR" >/dev/null 2>&1; then
    return 0
  fi
  need_root down
  # Deleting a namespace kills its veth end, which removes the peer too.
  for ns in $(our_ns); do
    # A job killed hard may leave processes in the namespace: end them first.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns"
  done
  rm -rf /tmp/mdsm-netns # the hosts' TMPDIRs (scripts/netns-agent.sh)
  for l in $(ip -o link show 2>/dev/null | awk -F': ' '$2 ~ /^(v-)?mdsm-/ {sub(/@.*/, "", $2); print $2}'); do
    ip link del "$l" 2>/dev/null || true
  done
}

# add_ns NAME ADDRESS: a namespace with lo and eth0 (veth to the bridge) up.
# Every host's interface is called eth0, so UCX_NET_DEVICES=eth0 fits all.
add_ns() {
  ip netns add "$1"
  ip link add "v-$1" type veth peer name eth0 netns "$1"
  ip link set "v-$1" master "$BR" up
  ip -n "$1" link set lo up
  ip -n "$1" addr add "$2/24" dev eth0
  ip -n "$1" link set eth0 up
}

up() {
  n=$1
  case $n in '' | *[!0-9]*) echo "mdsm: up needs a host count, got '$n'" >&2; exit 2 ;; esac
  if [ "$n" -lt 1 ] || [ "$n" -gt 200 ]; then
    echo "mdsm: host count must be 1..200" >&2
    exit 2
  fi
  need_root up
  down # idempotent: start from nothing
  ip link add "$BR" type bridge
  ip link set "$BR" up
  add_ns mdsm-head "$NET.254"
  i=0
  while [ "$i" -lt "$n" ]; do
    add_ns "mdsm-h$i" "$NET.$((i + 1))"
    i=$((i + 1))
  done
}

status() {
  for ns in $(our_ns); do
    printf '%s %s\n' "$ns" "$(ip -n "$ns" -o -4 addr show dev eth0 2>/dev/null | awk '{print $4}')"
  done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  up) up "${1:-}" ;;
  down) down ;;
  status) status ;;
  agent) exec "$HERE/netns-agent.sh" "$@" ;;
  *)
    echo "usage: $0 up N | down | status | agent HOST CMD..." >&2
    exit 2
    ;;
esac
