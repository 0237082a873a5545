/* Topology discovery, node-local ranks, and applying the placement decision. */
#include "topo/topo.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "config/config.h"

/* Loaded at the first mdsm_init and kept for the process: a load costs
 * milliseconds, ten times a whole mdsm_init without it, and the machine does
 * not change between sessions. */
static hwloc_topology_t loaded;

static struct {
    hwloc_topology_t topo;  /* NULL when discovery failed */
    hwloc_bitmap_t initial; /* the process binding at init, restored at fini */
    struct topo_node node;
    MPI_Comm node_comm; /* the ranks of this node, in rank order; MPI_COMM_NULL if none */
    int node_id, nnodes;
    struct topo_decision d;
    int decided, this_system, binding_applied, home_placed;
    char bind_note[160]; /* why a decided binding was not applied */
    char home_note[160]; /* where home memory went, and why */
} tp;

/* FNV-1a: host names are compared through a 64-bit hash to keep the exchange small. */
static uint64_t host_hash(void)
{
    char name[256] = {0};
    gethostname(name, sizeof(name) - 1);
    uint64_t h = 1469598103934665603ull;
    for (const char *c = name; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    return h;
}

static int load(void)
{
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0)
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "topology: hwloc_topology_init: %s",
                                  strerror(errno));
    if (hwloc_topology_load(t) != 0) {
        int err = errno;
        hwloc_topology_destroy(t);
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "topology: hwloc_topology_load: %s",
                                  strerror(err));
    }
    loaded = t;
    return MDSM_OK;
}

/* Finds the topology and reads the binding the process has now. */
static int discover(void)
{
    int rc = loaded ? MDSM_OK : load();
    if (rc != MDSM_OK)
        return rc;
    tp.topo = loaded;
    tp.this_system = hwloc_topology_is_thissystem(tp.topo);
    tp.initial = hwloc_bitmap_dup(hwloc_topology_get_topology_cpuset(tp.topo));
    if (!tp.initial)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "topology: cpuset");
    /* On a synthetic or XML machine the real binding means nothing: unbound. */
    if (tp.this_system && hwloc_get_cpubind(tp.topo, tp.initial, HWLOC_CPUBIND_PROCESS) != 0) {
        MDSM_WARN("topology: cannot read the process binding (%s); taken as unbound",
                  strerror(errno));
        /* A failed read may have left a partial set behind. */
        hwloc_bitmap_copy(tp.initial, hwloc_topology_get_topology_cpuset(tp.topo));
    }
    return MDSM_OK;
}

/* Collective over comm: local rank and count from the shared-memory split, a
 * node id (by each node's lowest rank), and whether a node-local rank was
 * bound already or another node has this host name. Every rank reaches the
 * same collectives whatever fails locally. */
static int find_node(MPI_Comm comm, int bound)
{
    int rank, nranks, leader = 0, any_bound = 0;
    MPI_Comm node_comm = MPI_COMM_NULL;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &nranks);
    int ok = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node_comm) ==
             MPI_SUCCESS;
    if (ok) {
        MPI_Comm_rank(node_comm, &tp.node.local_rank);
        MPI_Comm_size(node_comm, &tp.node.local_nranks);
        ok = MPI_Allreduce(&rank, &leader, 1, MPI_INT, MPI_MIN, node_comm) == MPI_SUCCESS &&
             MPI_Allreduce(&bound, &any_bound, 1, MPI_INT, MPI_MAX, node_comm) == MPI_SUCCESS;
        tp.node_comm = node_comm; /* kept: space/ shares the node's home memory over it */
    }
    uint64_t mine[2] = {(uint64_t)leader, host_hash()};
    uint64_t *all = malloc(2 * sizeof(uint64_t) * (size_t)nranks);
    int all_ok = 0;
    ok = ok && all;
    if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS || !all_ok ||
        MPI_Allgather(mine, 2, MPI_UINT64_T, all, 2, MPI_UINT64_T, comm) != MPI_SUCCESS) {
        free(all);
        return mdsm_fail_internal(MDSM_ERR_MPI, "topology: finding the ranks of each node failed");
    }
    tp.node.peer_bound = any_bound && !bound;
    tp.node_id = tp.nnodes = 0;
    for (int r = 0; r < nranks; r++) {
        uint64_t r_leader = all[2 * r];
        if (r_leader == (uint64_t)r) { /* r leads its node */
            tp.nnodes++;
            tp.node_id += r < leader;
        }
        if (all[2 * r + 1] == mine[1] && r_leader != (uint64_t)leader)
            tp.node.host_shared = 1;
    }
    free(all);
    return MDSM_OK;
}

static void apply_binding(void)
{
    if (tp.d.binding != MDSM_BINDING_MDSM)
        return;
    if (!tp.this_system) {
        snprintf(tp.bind_note, sizeof(tp.bind_note),
                 "not applied: the topology is not this "
                 "machine's (HWLOC_SYNTHETIC/HWLOC_XMLFILE)");
        return;
    }
    /* PROCESS: all threads, MPI's included; the progress thread starts later and inherits. */
    if (hwloc_set_cpubind(tp.topo, tp.d.cpuset, HWLOC_CPUBIND_PROCESS) != 0) {
        snprintf(tp.bind_note, sizeof(tp.bind_note), "not applied: the OS refused (%s)",
                 strerror(errno));
        MDSM_WARN("binding: could not bind to the decided PUs, %s", tp.bind_note);
        return;
    }
    tp.binding_applied = 1;
}

int topo_init(MPI_Comm comm, int bind_mode)
{
    memset(&tp, 0, sizeof(tp));
    tp.node_comm = MPI_COMM_NULL;
    tp.d.numa_node = -1;
    int rc = discover();
    int bound = rc == MDSM_OK &&
                !hwloc_bitmap_isincluded(hwloc_topology_get_topology_cpuset(tp.topo), tp.initial);
    int node_rc = find_node(comm, bound);
    if (rc == MDSM_OK)
        rc = node_rc;
    if (rc == MDSM_OK)
        rc = topo_decide(tp.topo, tp.initial, &tp.node, bind_mode, &tp.d);
    if (rc != MDSM_OK)
        return rc;
    tp.decided = 1;
    apply_binding();
    return MDSM_OK;
}

void topo_place_home(void *addr, size_t len)
{
    if (!tp.decided)
        return;
    if (tp.d.numa_node < 0) {
        snprintf(tp.home_note, sizeof(tp.home_note),
                 "not bound: the rank's PUs span NUMA nodes, so pages go where first touched");
        return;
    }
    if (!tp.this_system) {
        snprintf(tp.home_note, sizeof(tp.home_note),
                 "not applied: the topology is not this machine's");
        return;
    }
    hwloc_nodeset_t nodes = hwloc_bitmap_alloc();
    int rc = nodes ? hwloc_bitmap_only(nodes, (unsigned)tp.d.numa_node) : -1;
    /* Not STRICT: Linux then prefers the node and falls back when it is full,
     * rather than failing the fault. Nothing is mapped yet, so nothing moves. */
    if (rc == 0)
        rc = hwloc_set_area_membind(tp.topo, addr, len, nodes, HWLOC_MEMBIND_BIND,
                                    HWLOC_MEMBIND_BYNODESET);
    if (rc != 0) {
        snprintf(tp.home_note, sizeof(tp.home_note),
                 "not bound: the OS refused (%s), so pages go where first touched",
                 strerror(errno));
        MDSM_WARN("home memory: binding to NUMA node %d: %s", tp.d.numa_node, tp.home_note);
    } else {
        tp.home_placed = 1;
        snprintf(tp.home_note, sizeof(tp.home_note), "bound (preferred) before first touch");
    }
    hwloc_bitmap_free(nodes);
}

void topo_home_shared(int nranks)
{
    tp.home_placed = 0;
    snprintf(tp.home_note, sizeof(tp.home_note),
             "not bound: shared by the node's %d ranks, so pages go where first touched "
             "(usually by their home rank); cached copies bound",
             nranks);
}

void topo_fini(void)
{
    if (tp.binding_applied && hwloc_set_cpubind(tp.topo, tp.initial, HWLOC_CPUBIND_PROCESS) != 0)
        MDSM_WARN("binding: could not restore the binding found at mdsm_init: %s", strerror(errno));
    topo_decision_free(&tp.d);
    hwloc_bitmap_free(tp.initial);
    if (tp.node_comm != MPI_COMM_NULL)
        MPI_Comm_free(&tp.node_comm);
    memset(&tp, 0, sizeof(tp));
    tp.node_comm = MPI_COMM_NULL;
}

MPI_Comm topo_node_comm(void)
{
    return tp.node_comm;
}

void topo_placement(mdsm_placement_t *out)
{
    memset(out, 0, sizeof(*out));
    out->node = tp.node_id;
    out->nnodes = tp.nnodes;
    out->local_rank = tp.node.local_rank;
    out->local_nranks = tp.node.local_nranks;
    out->binding = tp.d.binding;
    hwloc_bitmap_list_snprintf(out->cpuset, sizeof(out->cpuset), tp.d.cpuset);
    out->numa_node = tp.d.numa_node;
    out->this_system = tp.this_system;
    out->binding_applied = tp.binding_applied;
    out->home_placed = tp.home_placed;
}

static const char *binding_name(mdsm_binding_t b)
{
    switch (b) {
    case MDSM_BINDING_NONE: return "none";
    case MDSM_BINDING_LAUNCHER: return "launcher";
    case MDSM_BINDING_MDSM: return "mdsm";
    }
    return "?";
}

void topo_info_print(FILE *out)
{
    if (!tp.decided)
        return;
    hwloc_topology_t t = tp.topo;
    fprintf(out, "topology: %d packages, %d NUMA nodes, %d cores, %d PUs (%s)\n",
            hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE),
            hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE),
            hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE), hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU),
            tp.this_system ? "this machine"
                           : "not this machine, from HWLOC_SYNTHETIC or HWLOC_XMLFILE: decisions "
                             "are computed and reported, not applied");
    fprintf(out, "node: %d of %d, local rank %d of %d\n", tp.node_id, tp.nnodes, tp.node.local_rank,
            tp.node.local_nranks);
    char set[512];
    hwloc_bitmap_list_snprintf(set, sizeof(set), tp.d.cpuset);
    fprintf(out, "binding: %s, PUs %s (%s)%s%s\n", binding_name(tp.d.binding), set, tp.d.reason,
            tp.bind_note[0] ? "; " : "", tp.bind_note);
    if (tp.d.numa_node >= 0)
        fprintf(out, "home memory: NUMA node %d, %s\n", tp.d.numa_node, tp.home_note);
    else
        fprintf(out, "home memory: no single NUMA node, %s\n", tp.home_note);
}
