#!/bin/sh
# rsh agent for Open MPI (plm_rsh_agent): behaves like `ssh HOST CMD...`, but
# runs CMD in the network namespace of a host made by scripts/netns-hosts.sh.
# HOST is $NET.(i+1) for mdsm-h<i>, $NET.254 for mdsm-head, or the namespace name.
set -eu
NET=${MDSM_NETNS_NET:-10.77.0}
# ssh-style options Open MPI may put before the host (e.g. -x) mean nothing here.
while [ $# -gt 0 ]; do
  case $1 in -*) shift ;; *) break ;; esac
done
[ $# -ge 2 ] || { echo "usage: $0 HOST CMD..." >&2; exit 255; }
host=$1
shift
case $host in
  mdsm-*) ns=$host ;;
  "$NET.254") ns=mdsm-head ;;
  "$NET".*) ns=mdsm-h$((${host##*.} - 1)) ;;
  *) echo "netns-agent: unknown host '$host' (not in $NET.0/24)" >&2; exit 255 ;;
esac
# Open MPI names its session directories (and PMIx its shared stores) after
# the hostname, which all namespaces share: daemons of different "hosts" then
# race on the same directories (orte_session_dir failed: File exists, PMIx
# dstore errors, lost daemons). A /tmp of their own per host, as real hosts have.
TMPDIR=/tmp/mdsm-netns/$ns
mkdir -p "$TMPDIR"
export TMPDIR
# Like ssh: the words are joined and run by a shell on the "remote" side.
exec ip netns exec "$ns" sh -c "$*"
