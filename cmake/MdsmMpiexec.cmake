# How tests, examples and benchmarks launch MPI jobs.
# Open MPI refuses more ranks than cores without --oversubscribe, and root without two variables.
execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version
                OUTPUT_VARIABLE _mpiexec_version ERROR_VARIABLE _mpiexec_version)
if(_mpiexec_version MATCHES "Open MPI|OpenRTE")
  set(MDSM_MPI_FLAVOR "openmpi")
  set(_pre "--oversubscribe")
else()
  set(MDSM_MPI_FLAVOR "other")
  set(_pre "")
endif()
set(MDSM_MPIEXEC_PREFLAGS "${_pre}" CACHE STRING "Flags mdsm passes to mpiexec before the program")
set(MDSM_MPIEXEC_ENV
    "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1"
    "OMPI_MCA_mca_base_component_disable_dlclose=1")
# Sanitizer runs: Open MPI's by-design leaks are suppressed, ours are not. Its
# libraries lack frame pointers, so leak stacks need the slow unwinder to match.
list(APPEND MDSM_MPIEXEC_ENV "ASAN_OPTIONS=fast_unwind_on_malloc=0"
     "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/mpi-tests/lsan.supp:print_suppressions=0")

# mdsm_mpiexec_command(<out-var> <np> <program> [args...])
function(mdsm_mpiexec_command out np)
  separate_arguments(_pre UNIX_COMMAND "${MDSM_MPIEXEC_PREFLAGS}")
  set(${out} "${MPIEXEC_EXECUTABLE}" ${MPIEXEC_NUMPROC_FLAG} ${np} ${_pre}
      ${MPIEXEC_PREFLAGS} ${ARGN} PARENT_SCOPE)
endfunction()
