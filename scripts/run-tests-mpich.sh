#!/bin/sh
# Builds mdsm against MPICH (Debian's libmpich-dev) and runs the test suite
# there; ends with ctest's summary line. /usr/bin/mpicc stays Open MPI's: the
# build names MPICH's own mpicc.mpich and mpiexec.mpich.
# Usage: scripts/run-tests-mpich.sh [build type: RelWithDebInfo (default), Debug, Release, Asan]
# Extra CMake options may be passed in MDSM_CMAKE_ARGS (CI adds -DMDSM_WERROR=ON).
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh libmpich-dev mpich
. scripts/env.sh
# Installing MPICH must not have taken /usr/bin/mpicc from Open MPI (Debian's
# alternatives rank Open MPI first): the rest of the project relies on it.
if ! mpicc -showme:version >/dev/null 2>&1; then
  echo "mdsm: /usr/bin/mpicc is not Open MPI's any more; restore it with:"
  echo "  update-alternatives --auto mpi && update-alternatives --auto mpirun"
  exit 1
fi
TYPE=${1:-RelWithDebInfo}
DIR=build/mpich
[ "$TYPE" = RelWithDebInfo ] || DIR=build/mpich-$(echo "$TYPE" | tr '[:upper:]' '[:lower:]')
# shellcheck disable=SC2086
out=$(cmake -S . -B "$DIR" -DCMAKE_BUILD_TYPE="$TYPE" -DMPI_C_COMPILER=mpicc.mpich \
  -DMPIEXEC_EXECUTABLE=/usr/bin/mpiexec.mpich ${MDSM_CMAKE_ARGS:-})
echo "$out" | grep 'mdsm: MPI library'
cmake --build "$DIR" -j "$JOBS"
# The library must use MPICH alone: its headers at build time (mdsm-info prints
# the MPI_Get_library_version it was linked with) and no Open MPI library.
"$DIR/src/mdsm-info" | grep '^# MPI: MPICH'
if ldd "$DIR/src/libmdsm.so" | grep -E 'libmpi\.so|libopen-'; then
  echo "mdsm: $DIR/src/libmdsm.so links Open MPI libraries as well as MPICH"
  exit 1
fi
unset MDSM_CMAKE_ARGS # not an mdsm setting: mdsm_init would warn about it
# MPICH serves RMA on the home window (MPI_Win_create) by active messages, so a
# page fetch or diff waits until the home rank gets a core: the oversubscribed
# np4 suites take several times as long as under Open MPI. Each test body gets
# 300 s instead of 120 s (still under ctest's limit).
export MT_TIMEOUT=300
cd "$DIR"
ctest --output-on-failure --timeout 900
