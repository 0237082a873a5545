/* The placement decision, a pure function of the topology and what the rank
 * found at init, so that it can be checked on topologies that are not this
 * machine's (HWLOC_SYNTHETIC, HWLOC_XMLFILE). */
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "config/config.h"
#include "topo/topo.h"

/* Keeps set within the NUMA node of its first PU, so that its home memory can
 * be local to all of it. NUMA nodes without PUs never match. */
static int narrow_to_numa(hwloc_topology_t topo, hwloc_bitmap_t set)
{
    int pu = hwloc_bitmap_first(set);
    hwloc_obj_t numa = NULL;
    while ((numa = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, numa)) != NULL) {
        if (pu >= 0 && hwloc_bitmap_isset(numa->cpuset, (unsigned)pu)) {
            int narrowed = !hwloc_bitmap_isincluded(set, numa->cpuset);
            hwloc_bitmap_and(set, set, numa->cpuset);
            return narrowed;
        }
    }
    return 0;
}

/* Local rank r's share of the node: hwloc_distrib down to cores while every
 * rank can have one, else down to PUs (the caller ensures n <= PUs). */
static int spread(hwloc_topology_t topo, int r, int n, hwloc_bitmap_t out, int *narrowed)
{
    int ncores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    hwloc_obj_type_t unit = ncores >= n ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    hwloc_bitmap_t *sets = calloc((size_t)n, sizeof(*sets));
    if (!sets)
        return MDSM_ERR_NO_MEMORY;
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    int rc = hwloc_distrib(topo, &root, 1, sets, (unsigned)n, hwloc_get_type_depth(topo, unit), 0);
    if (rc == 0 && sets[r] && hwloc_bitmap_copy(out, sets[r]) == 0)
        *narrowed = narrow_to_numa(topo, out);
    else
        rc = MDSM_ERR_NO_MEMORY;
    for (int i = 0; i < n; i++)
        hwloc_bitmap_free(sets[i]);
    free(sets);
    return rc;
}

/* The first NUMA node (logical order) whose PUs include all of set; -1 if none. */
static int numa_of(hwloc_topology_t topo, hwloc_const_cpuset_t set)
{
    if (hwloc_bitmap_iszero(set))
        return -1;
    hwloc_obj_t numa = NULL;
    while ((numa = hwloc_get_next_obj_by_type(topo, HWLOC_OBJ_NUMANODE, numa)) != NULL)
        if (hwloc_bitmap_isincluded(set, numa->cpuset))
            return (int)numa->os_index;
    return -1;
}

#define REASON(...) snprintf(d->reason, sizeof(d->reason), __VA_ARGS__)

int topo_decide(hwloc_topology_t topo, hwloc_const_cpuset_t current, const struct topo_node *node,
                int bind_mode, struct topo_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->numa_node = -1;
    d->cpuset = hwloc_bitmap_alloc();
    if (!d->cpuset)
        return MDSM_ERR_NO_MEMORY;
    hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset(topo);
    int npus = hwloc_bitmap_weight(all);
    int rc = MDSM_OK;
    d->binding = MDSM_BINDING_NONE;
    hwloc_bitmap_copy(d->cpuset, all);
    if (!hwloc_bitmap_isincluded(all, current)) {
        hwloc_bitmap_and(d->cpuset, current, all);
        d->binding = MDSM_BINDING_LAUNCHER;
        REASON("bound before mdsm_init, by the launcher or the application; kept");
    } else if (bind_mode == MDSM_BIND_NONE) {
        REASON("MDSM_BIND=none");
    } else if (node->host_shared) {
        REASON("ranks on other MPI nodes have this host name (network namespaces or "
               "containers on one machine?): each node would bind from PU 0 up, onto the "
               "same PUs");
    } else if (node->peer_bound) {
        REASON("other ranks of this node were bound before mdsm_init: a share of the node "
               "could overlap their PUs");
    } else if (node->local_nranks > npus) {
        REASON("%d node-local ranks on %d PUs: bound ranks would share PUs for good, while "
               "unbound the OS moves them to idle PUs",
               node->local_nranks, npus);
    } else {
        int narrowed = 0;
        rc = spread(topo, node->local_rank, node->local_nranks, d->cpuset, &narrowed);
        int ncores = hwloc_get_nbobjs_inside_cpuset_by_type(topo, d->cpuset, HWLOC_OBJ_CORE);
        d->binding = MDSM_BINDING_MDSM;
        REASON("MDSM_BIND=auto and unbound at mdsm_init: local rank %d of %d gets %d %s of "
               "hwloc_distrib's spread%s",
               node->local_rank, node->local_nranks,
               ncores > 0 ? ncores : hwloc_bitmap_weight(d->cpuset),
               ncores > 0 ? "core(s)" : "PU(s)", narrowed ? ", kept within one NUMA node" : "");
    }
    d->numa_node = numa_of(topo, d->cpuset);
    return rc;
}

void topo_decision_free(struct topo_decision *d)
{
    hwloc_bitmap_free(d->cpuset);
    d->cpuset = NULL;
}
