#!/bin/sh
# Builds mdsm and runs the whole test suite; ends with ctest's summary line.
# Usage: scripts/run-tests.sh [build type: RelWithDebInfo (default), Debug, Release, Asan]
# Extra CMake options may be passed in MDSM_CMAKE_ARGS (CI adds -DMDSM_WERROR=ON).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh
. scripts/env.sh
TYPE=${1:-RelWithDebInfo}
DIR=build/$(echo "$TYPE" | tr 'A-Z' 'a-z')
# shellcheck disable=SC2086
cmake -S . -B "$DIR" -DCMAKE_BUILD_TYPE="$TYPE" ${MDSM_CMAKE_ARGS:-} >/dev/null
unset MDSM_CMAKE_ARGS # not a variable of the library: its ranks would warn about it
cmake --build "$DIR" -j "$JOBS"
cd "$DIR"
ctest --output-on-failure --timeout 900
