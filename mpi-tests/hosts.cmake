# Suites run with ranks on simulated hosts: network namespaces talking TCP
# (scripts/mpirun-hosts.sh). Needs root and iproute2; CI runs as root. Without
# them the entries fail with the script's message rather than being skipped,
# so a machine that cannot run them is noticed.
set(MDSM_HOSTS_COUNT 2 CACHE STRING "Simulated hosts the multi-host suites spread ranks over")

# Removes the namespaces after the multi-host entries even when one of them was
# killed (timeout) before its own cleanup ran. ctest runs it after them.
if(NOT TEST hosts.cleanup)
  add_test(NAME hosts.cleanup COMMAND ${PROJECT_SOURCE_DIR}/scripts/netns-hosts.sh down)
  set_tests_properties(hosts.cleanup PROPERTIES FIXTURES_CLEANUP mdsm_hosts RUN_SERIAL TRUE
                       TIMEOUT 60)
endif()

# mdsm_add_hosts_test(<suite> <np> [HOSTS <h>] [ENV <VAR=value>...]): ctest entry
# <suite>.hosts<np> running test_<suite> on <np> ranks spread over <h> hosts
# (default MDSM_HOSTS_COUNT); with HOSTS the name is <suite>.hosts<np>x<h>.
function(mdsm_add_hosts_test suite np)
  cmake_parse_arguments(H "" "HOSTS" "ENV" ${ARGN})
  set(name ${suite}.hosts${np})
  if(H_HOSTS)
    set(name ${suite}.hosts${np}x${H_HOSTS})
  else()
    set(H_HOSTS ${MDSM_HOSTS_COUNT})
  endif()
  add_test(NAME ${name}
           COMMAND ${PROJECT_SOURCE_DIR}/scripts/mpirun-hosts.sh -n ${np} --hosts ${H_HOSTS}
                   $<TARGET_FILE:test_${suite}>)
  # Namespaces are shared machine state: one such entry at a time.
  set_tests_properties(${name} PROPERTIES
    TIMEOUT ${MDSM_TEST_TIMEOUT} RUN_SERIAL TRUE FIXTURES_REQUIRED mdsm_hosts
    ENVIRONMENT "${MDSM_MPIEXEC_ENV};MDSM_MPIRUN=${MPIEXEC_EXECUTABLE};MT_HOSTS=1;${H_ENV}")
endfunction()
