#!/bin/sh
# ctest: installs this build into a fresh prefix, then builds consumer/ (an
# outside program) against the installed package twice, through CMake
# (find_package(mdsm)) and through pkg-config, runs each on 2 ranks and checks
# their output, and runs the installed mdsm-info. Every step is time-bounded.
# Usage: check-install.sh BUILD_DIR WORK_DIR LIBDIR CMAKE MPICC "MPIEXEC -n 2 ..." [CFLAGS]
set -eu
build=$1 work=$2 libdir=$3 cmake=$4 mpicc=$5 mpiexec=$6 cflags=${7:-}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
prefix=$work/prefix
fail() {
  echo "check-install: $*" >&2
  exit 1
}
# bounded SECONDS LOG COMMAND...: runs it with its output in LOG, shown on failure.
bounded() {
  limit=$1 log=$2
  shift 2
  if ! timeout "$limit" "$@" >"$log" 2>&1; then
    cat "$log"
    fail "failed or ran past ${limit} s: $*"
  fi
}
# run_consumer NAME PROGRAM: 2 ranks, each must report OK.
run_consumer() {
  # shellcheck disable=SC2086
  bounded 120 "$work/$1.out" $mpiexec "$2"
  cat "$work/$1.out"
  for r in 0 1; do
    grep -q "^consumer: rank $r of 2 OK$" "$work/$1.out" || fail "$1: rank $r did not report OK"
  done
}

rm -rf "$work"
mkdir -p "$work"

echo "== cmake --install $build --prefix $prefix"
bounded 120 "$work/install.log" "$cmake" --install "$build" --prefix "$prefix"
for f in bin/mdsm-info "$libdir/pkgconfig/mdsm.pc" "$libdir/cmake/mdsm/mdsmConfig.cmake" \
  "$libdir/cmake/mdsm/mdsmConfigVersion.cmake" "$libdir/cmake/mdsm/mdsmTargets.cmake"; do
  [ -f "$prefix/$f" ] || fail "$prefix/$f is not installed"
done
for h in "$top"/include/*.h; do
  cmp -s "$h" "$prefix/include/$(basename "$h")" || fail "public header $(basename "$h") is not installed"
done
# libmdsm.so -> libmdsm.so.<major> (the SONAME) -> the versioned file.
lib=$prefix/$libdir/libmdsm.so
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ -z "$soname" ] || [ ! -L "$lib" ] || [ "$(readlink "$lib")" != "$soname" ]; then
  fail "$lib is not a link to its SONAME '$soname'"
fi
if [ ! -L "$prefix/$libdir/$soname" ] || [ ! -f "$prefix/$libdir/$soname" ]; then
  fail "$soname does not link to the versioned library"
fi

echo "== installed mdsm-info"
bounded 60 "$work/info.out" "$prefix/bin/mdsm-info"
grep -q '^# mdsm [0-9]*\.[0-9]*\.[0-9]*$' "$work/info.out" || fail "mdsm-info printed no version"
grep -q '^# MPI workarounds: ' "$work/info.out" || fail "mdsm-info printed no workarounds line"
ldd "$prefix/bin/mdsm-info" | grep -q "libmdsm.so.* => $prefix/" || fail "installed mdsm-info does not use the installed libmdsm"

echo "== CMake: find_package(mdsm) with CMAKE_PREFIX_PATH=$prefix"
bounded 180 "$work/cmake-configure.log" "$cmake" -S "$here/consumer" -B "$work/cmake-build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS="$cflags"
grep -q "^mdsm_DIR:PATH=$prefix/$libdir/cmake/mdsm$" "$work/cmake-build/CMakeCache.txt" ||
  fail "the consumer found an mdsm package outside $prefix"
bounded 180 "$work/cmake-build.log" "$cmake" --build "$work/cmake-build"
run_consumer cmake "$work/cmake-build/consumer"

echo "== pkg-config: PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig"
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
[ "$(pkg-config --variable=mpicc mdsm)" = "$mpicc" ] || fail "mdsm.pc names another MPI compiler than $mpicc"
cflags_pc=$(pkg-config --cflags mdsm)
cflags_pc=${cflags_pc%% } # pkg-config ends it with a blank
[ "$cflags_pc" = "-I$prefix/include" ] || fail "pkg-config --cflags mdsm gives '$cflags_pc'"
# shellcheck disable=SC2046,SC2086
bounded 180 "$work/pkg-build.log" "$(pkg-config --variable=mpicc mdsm)" $cflags \
  -o "$work/consumer-pc" "$here/consumer/consumer.c" $(pkg-config --cflags --libs mdsm) \
  -Wl,-rpath,"$(pkg-config --variable=libdir mdsm)"
run_consumer pkg-config "$work/consumer-pc"
echo "check-install: ok"
