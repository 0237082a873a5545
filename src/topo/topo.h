/* The node a rank runs on: its hwloc topology, the ranks that share it, the
 * rank's CPU binding and the NUMA node of its home memory. */
#ifndef MDSM_TOPO_TOPO_H
#define MDSM_TOPO_TOPO_H

#include <hwloc.h>
#include <mpi.h>
#include <stddef.h>
#include <stdio.h>

#include "mdsm.h"

/* What a rank knows about its node besides the topology and its binding. */
struct topo_node {
    int local_rank, local_nranks;
    int host_shared; /* its host name is also used by ranks that MPI puts on other nodes */
    int peer_bound;  /* another rank of this node was bound before mdsm_init */
};

struct topo_decision {
    hwloc_bitmap_t cpuset; /* the rank's PUs: kept, decided, or the whole machine */
    mdsm_binding_t binding;
    int numa_node; /* OS index of the NUMA node holding all of cpuset; -1 if none does */
    char reason[224];
};

/* Pure: decides one rank's binding and home NUMA node from the topology, the
 * rank's binding at mdsm_init (current), its node and MDSM_BIND (bind_mode).
 * Bound already: kept. Unbound with MDSM_BIND=auto: the node's PUs are spread
 * over its local ranks with hwloc_distrib (whole cores while there are enough,
 * else single PUs), each share kept within one NUMA node. Allocates d->cpuset;
 * returns MDSM_OK or MDSM_ERR_NO_MEMORY. */
int topo_decide(hwloc_topology_t topo, hwloc_const_cpuset_t current, const struct topo_node *node,
                int bind_mode, struct topo_decision *d);
void topo_decision_free(struct topo_decision *d);

/* Collective over comm: discovers the topology (at the first call of the
 * process; later sessions reuse it), finds the node-local ranks,
 * decides and (on this machine) applies the binding. Every rank calls every
 * collective whatever fails locally. */
int topo_init(MPI_Comm comm, int bind_mode);

/* Binds [addr, addr+len) to the decided NUMA node before anything touches it.
 * Refusal by the OS is reported (warning, mdsm_info_print), not an error. */
void topo_place_home(void *addr, size_t len);

/* After topo_place_home: home memory is the node's, shared by nranks ranks,
 * and left to first touch; reported so (home_placed 0). */
void topo_home_shared(int nranks);

/* Restores the binding found at topo_init if mdsm changed it; frees the
 * session's state (the topology stays loaded). */
void topo_fini(void);

void topo_placement(mdsm_placement_t *out);

/* The ranks of mdsm's communicator on this node (MPI_COMM_TYPE_SHARED), in
 * rank order, from topo_init to topo_fini; MPI_COMM_NULL outside. */
MPI_Comm topo_node_comm(void);

/* The topology, node, binding and home memory lines of mdsm_info_print. */
void topo_info_print(FILE *out);

#endif
