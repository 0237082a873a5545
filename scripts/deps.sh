#!/bin/sh
# Installs the Debian 12 packages mdsm needs when they are missing.
# iproute2 (ip) is for the multi-host tests (scripts/netns-hosts.sh).
# Packages named as arguments are needed too (scripts/run-tests-mpich.sh: mpich).
# As root it runs apt-get; otherwise it prints the exact apt-get line and fails.
set -eu
PKGS="build-essential cmake pkg-config openmpi-bin libopenmpi-dev hwloc libhwloc-dev \
papi-tools libpapi-dev libgtest-dev clang-format iproute2 $*"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "mdsm: these Debian packages are missing:$missing"
  echo "mdsm: install them as root with:"
  echo "  apt-get update && apt-get install -y$missing"
  exit 1
fi
echo "mdsm: installing$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
