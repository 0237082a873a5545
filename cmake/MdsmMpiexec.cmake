# How tests, examples and benchmarks launch MPI jobs, for the MPI found: Open MPI or MPICH.
# Needs MPI_DETERMINE_LIBRARY_VERSION set before find_package(MPI).
#   MDSM_MPI_FLAVOR   openmpi, mpich or other (from MPI_Get_library_version)
#   MDSM_MPI_LIBRARY  the first line of MPI_Get_library_version
#   MDSM_MPI_VERSION  the library's own version, e.g. 4.1.4
string(REGEX MATCH "^[^\n]*" MDSM_MPI_LIBRARY "${MPI_C_LIBRARY_VERSION_STRING}")
set(MDSM_MPI_VERSION "")
if(MDSM_MPI_LIBRARY MATCHES "^Open MPI v([0-9]+\\.[0-9]+(\\.[0-9]+)?)")
  set(MDSM_MPI_FLAVOR "openmpi")
  set(MDSM_MPI_VERSION "${CMAKE_MATCH_1}")
elseif(MDSM_MPI_LIBRARY MATCHES "^MPICH Version:[ \t]*([0-9]+\\.[0-9]+(\\.[0-9]+)?)")
  set(MDSM_MPI_FLAVOR "mpich")
  set(MDSM_MPI_VERSION "${CMAKE_MATCH_1}")
else()
  set(MDSM_MPI_FLAVOR "other")
endif()

# The launcher must be the library's own. FindMPI takes mpiexec from PATH, which
# on Debian is Open MPI's even with -DMPI_C_COMPILER=mpicc.mpich.
execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version
                OUTPUT_VARIABLE _mpiexec_version ERROR_VARIABLE _mpiexec_version)
if(_mpiexec_version MATCHES "Open MPI|OpenRTE")
  set(_launcher "openmpi")
elseif(_mpiexec_version MATCHES "HYDRA")
  set(_launcher "mpich")
else()
  set(_launcher "other")
endif()
# Only a launcher known to be the other MPI's is refused: srun, a missing
# mpiexec (library-only builds) and unknown launchers are left to the user.
if(NOT MDSM_MPI_FLAVOR STREQUAL "other" AND NOT _launcher STREQUAL "other"
   AND NOT _launcher STREQUAL MDSM_MPI_FLAVOR)
  message(FATAL_ERROR "mdsm: the MPI library is ${MDSM_MPI_FLAVOR} (${MDSM_MPI_LIBRARY}) but "
          "MPIEXEC_EXECUTABLE=${MPIEXEC_EXECUTABLE} is ${_launcher}'s launcher; pass that "
          "library's own, e.g. -DMPIEXEC_EXECUTABLE=/usr/bin/mpiexec.mpich for MPICH")
endif()
message(STATUS "mdsm: MPI library ${MDSM_MPI_LIBRARY}; launcher ${MPIEXEC_EXECUTABLE}")

# Open MPI refuses more ranks than cores without --oversubscribe, and root
# without two variables. MPICH's Hydra needs neither.
if(MDSM_MPI_FLAVOR STREQUAL "openmpi")
  set(_pre "--oversubscribe")
  set(MDSM_MPIEXEC_ENV
      "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1"
      "OMPI_MCA_mca_base_component_disable_dlclose=1")
else()
  set(_pre "")
  set(MDSM_MPIEXEC_ENV "")
endif()
set(MDSM_MPIEXEC_PREFLAGS "${_pre}" CACHE STRING "Flags mdsm passes to mpiexec before the program")
# Sanitizer runs: Open MPI's by-design leaks are suppressed, ours are not. Its
# libraries lack frame pointers, so leak stacks need the slow unwinder to match.
# intercept_tls_get_addr=0: GCC 12's runtime (up to GCC 13 / LLVM 16) takes a
# dynamic TLS block whose address is 16 mod 4096 for glibc 2.19's layout and
# reads a garbage range from the words before it; LeakSanitizer's tracer then
# dies scanning it at exit ("Tracer caught signal 11", "DTLS 9 at
# 0x6294-0x2400007396" with log_threads=1). Which block lands there depends on
# the process's layout, down to the length of the build directory's path: a
# clone in /tmp failed topo.hosts2 every run, /work passed. The modules with
# dynamic TLS are MPI's and UCX's plugins (libmdsm's TLS is static), so only
# their own, suppressed, leaks could go unnoticed.
set(MDSM_ASAN_OPTIONS "fast_unwind_on_malloc=0:intercept_tls_get_addr=0")
list(APPEND MDSM_MPIEXEC_ENV "ASAN_OPTIONS=${MDSM_ASAN_OPTIONS}"
     "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/mpi-tests/lsan.supp:print_suppressions=0")

# mdsm_mpiexec_command(<out-var> <np> <program> [args...])
function(mdsm_mpiexec_command out np)
  separate_arguments(_pre UNIX_COMMAND "${MDSM_MPIEXEC_PREFLAGS}")
  set(${out} "${MPIEXEC_EXECUTABLE}" ${MPIEXEC_NUMPROC_FLAG} ${np} ${_pre}
      ${MPIEXEC_PREFLAGS} ${ARGN} PARENT_SCOPE)
endfunction()
