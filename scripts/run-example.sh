#!/bin/sh
# The main job: builds mdsm and runs the flagship example on 4 ranks.
# Usage: scripts/run-example.sh [ranks]
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
. scripts/env.sh
NP=${1:-4}
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DMDSM_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j "$JOBS" --target jacobi
mpirun -n "$NP" build/release/examples/jacobi
