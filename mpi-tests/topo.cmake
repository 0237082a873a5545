# The topology suite (src/topo): the plain runs, then runs whose ranks the
# launcher leaves unbound or binds (Open MPI's --bind-to, set through its
# environment form), then topologies that are not this machine's, where the
# NUMA decisions are computed and checked but not applied: a synthetic 2x2
# NUMA machine, the same with fewer PUs than ranks, and an XML file with
# Linux-style SMT numbering (PUs 0 and 6 share core 0). TOPO_EXPECT_BINDING
# makes a run fail if the launcher did not do what the entry says. Open MPI
# reads HWLOC_SYNTHETIC/HWLOC_XMLFILE too and, seeing more PUs than the real
# ones, would let its ranks spin instead of yield: yield_when_idle avoids that.
function(mdsm_add_topo_suite name)
  mdsm_add_mpi_suite(${name} SOURCES test_topo.c ${ARGN})
  target_link_libraries(test_${name} PRIVATE HWLOC::hwloc)
endfunction()

mdsm_add_topo_suite(topo)
if(MDSM_MPI_FLAVOR STREQUAL "openmpi")
  mdsm_add_topo_suite(topo_unbound
    ENV OMPI_MCA_hwloc_base_binding_policy=none TOPO_EXPECT_BINDING=unbound)
  mdsm_add_topo_suite(topo_bound
    ENV OMPI_MCA_hwloc_base_binding_policy=core:overload-allowed TOPO_EXPECT_BINDING=launcher)
endif()
set(_yield OMPI_MCA_mpi_yield_when_idle=1)
mdsm_add_topo_suite(topo_numa ENV "HWLOC_SYNTHETIC=pack:2 numa:2 core:2 pu:1" ${_yield})
mdsm_add_topo_suite(topo_oversubscribed NP 4 ENV "HWLOC_SYNTHETIC=core:2 pu:1" ${_yield})
mdsm_add_topo_suite(topo_xml
  ENV HWLOC_XMLFILE=${CMAKE_CURRENT_SOURCE_DIR}/topo-numa2-smt.xml ${_yield})

# mdsm-info --runtime prints the topology and each rank's placement.
mdsm_mpiexec_command(cmd 2 $<TARGET_FILE:mdsm-info> --runtime)
mdsm_add_check(info.runtime_shows_topology_and_placement EXPECT success CMD ${cmd}
  MATCH "topology: [0-9]+ packages, [1-9][0-9]* NUMA nodes, [0-9]+ cores, [1-9][0-9]* PUs"
        "node: 0 of 1, local rank 1 of 2" "binding: [a-z]+, PUs [0-9]"
        "home memory: [A-Za-z ]+[0-9]*, ")
