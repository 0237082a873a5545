/* Topology, node-local ranks, binding and NUMA placement, checked against
 * MPI's shared-memory split, host names and hwloc's own view. The same tests
 * run on topologies that are not this machine's (HWLOC_SYNTHETIC,
 * HWLOC_XMLFILE): mdsm then decides for that machine and applies nothing.
 * TOPO_EXPECT_BINDING=launcher|unbound states how the entry launches ranks,
 * so that an entry cannot silently test the other case. */
#define _GNU_SOURCE
#include <hwloc.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mt.h"

/* The test's own view of the machine (the same environment as mdsm's). */
static hwloc_topology_t load_topology(void)
{
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0)
        return NULL;
    if (hwloc_topology_load(t) != 0) {
        hwloc_topology_destroy(t);
        return NULL;
    }
    return t;
}

static hwloc_bitmap_t parse_set(const char *list)
{
    hwloc_bitmap_t s = hwloc_bitmap_alloc();
    if (hwloc_bitmap_list_sscanf(s, list) != 0)
        hwloc_bitmap_zero(s);
    return s;
}

/* The process binding as hwloc sees it on this machine. */
static hwloc_bitmap_t current_binding(hwloc_topology_t t)
{
    hwloc_bitmap_t s = hwloc_bitmap_alloc();
    if (hwloc_get_cpubind(t, s, HWLOC_CPUBIND_PROCESS) != 0)
        hwloc_bitmap_zero(s);
    return s;
}

static int sets_equal(hwloc_const_bitmap_t a, const char *list)
{
    hwloc_bitmap_t b = parse_set(list);
    int eq = hwloc_bitmap_isequal(a, b);
    hwloc_bitmap_free(b);
    return eq;
}

/* What makes a host in these tests: its name and its network namespace
 * (scripts/mpirun-hosts.sh runs "hosts" as namespaces of one machine). */
struct host_key {
    char name[64];
    unsigned long long netns;
};

static struct host_key my_host(void)
{
    struct host_key k;
    memset(&k, 0, sizeof(k));
    gethostname(k.name, sizeof(k.name) - 1);
    struct stat st;
    if (stat("/proc/self/ns/net", &st) == 0)
        k.netns = (unsigned long long)st.st_ino;
    return k;
}

/* Sets MDSM_BIND for one test; restore_bind puts back what the entry set
 * (scripts/mpirun-hosts.sh sets none). */
static char saved_bind[32];
static int had_bind;

static void set_bind(const char *value)
{
    const char *old = getenv("MDSM_BIND");
    had_bind = old != NULL;
    snprintf(saved_bind, sizeof(saved_bind), "%s", old ? old : "");
    setenv("MDSM_BIND", value, 1);
}

static void restore_bind(void)
{
    if (had_bind)
        setenv("MDSM_BIND", saved_bind, 1);
    else
        unsetenv("MDSM_BIND");
}

static int bind_mode_auto(void)
{
    const char *b = getenv("MDSM_BIND");
    return !b || strcasecmp(b, "auto") == 0;
}

MT_TEST(topo, placement_get_checks_its_arguments)
{
    mdsm_placement_t p;
    MT_EXPECT_RC(mdsm_placement_get(&p), MDSM_ERR_NOT_INITIALIZED);
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    MT_EXPECT_RC(mdsm_placement_get(NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT(strstr(mdsm_last_error_message(), "out is NULL") != NULL);
    MT_EXPECT_OK(mdsm_finalize());
}

MT_MDSM_TEST(topo, node_local_ranks_match_shared_split_and_hosts)
{
    mdsm_placement_t p;
    MT_ASSERT_OK(mdsm_placement_get(&p));
    MPI_Comm shared;
    int lrank, lsize;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mt_rank(), MPI_INFO_NULL, &shared);
    MPI_Comm_rank(shared, &lrank);
    MPI_Comm_size(shared, &lsize);
    MPI_Comm_free(&shared);
    MT_EXPECT_EQ(p.local_rank, lrank);
    MT_EXPECT_EQ(p.local_nranks, lsize);

    /* Independently from host keys: same host <=> same node id, nodes numbered
     * by their lowest rank, local ranks in rank order. */
    int n = mt_nranks();
    struct host_key me = my_host();
    struct host_key *keys = calloc((size_t)n, sizeof(*keys));
    int mine[2] = {p.node, p.nnodes}, *ids = calloc(2 * (size_t)n, sizeof(int));
    MPI_Allgather(&me, sizeof(me), MPI_BYTE, keys, sizeof(me), MPI_BYTE, MPI_COMM_WORLD);
    MPI_Allgather(mine, 2, MPI_INT, ids, 2, MPI_INT, MPI_COMM_WORLD);
    int hosts = 0, my_node = -1, my_local = 0, my_count = 0;
    for (int r = 0; r < n; r++) {
        int first = r;
        for (int s = 0; s < r && first == r; s++)
            if (memcmp(&keys[s], &keys[r], sizeof(me)) == 0)
                first = s;
        if (first == r)
            hosts++;
        if (memcmp(&keys[r], &me, sizeof(me)) == 0) {
            my_node = my_node < 0 ? hosts - 1 : my_node;
            my_local += r < mt_rank();
            my_count++;
        }
        for (int s = 0; s < n; s++) {
            int same_host = memcmp(&keys[s], &keys[r], sizeof(me)) == 0;
            if (same_host != (ids[2 * s] == ids[2 * r]))
                mt_fail(__FILE__, __LINE__, "ranks %d and %d: same host %d but nodes %d and %d", r,
                        s, same_host, ids[2 * r], ids[2 * s]);
        }
        MT_EXPECT_EQ(ids[2 * r + 1], p.nnodes);
    }
    MT_EXPECT_EQ(p.nnodes, hosts);
    MT_EXPECT_EQ(p.node, my_node);
    MT_EXPECT_EQ(p.local_rank, my_local);
    MT_EXPECT_EQ(p.local_nranks, my_count);
    free(keys);
    free(ids);
}

/* Collective. Whether ranks that MPI puts on other nodes have this rank's
 * host name (network namespaces or containers on one machine). */
static int host_clash(void)
{
    int n = mt_nranks(), clash = 0, node;
    MPI_Comm shared;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mt_rank(), MPI_INFO_NULL, &shared);
    MPI_Allreduce(&(int){mt_rank()}, &node, 1, MPI_INT, MPI_MIN, shared);
    MPI_Comm_free(&shared);
    char name[64] = {0}, *names = calloc((size_t)n, sizeof(name));
    int *nodes = calloc((size_t)n, sizeof(int));
    gethostname(name, sizeof(name) - 1);
    MPI_Allgather(name, sizeof(name), MPI_CHAR, names, sizeof(name), MPI_CHAR, MPI_COMM_WORLD);
    MPI_Allgather(&node, 1, MPI_INT, nodes, 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 0; r < n; r++)
        clash |= strcmp(names + r * sizeof(name), name) == 0 && nodes[r] != node;
    free(names);
    free(nodes);
    return clash;
}

/* Collective. Whether mdsm should bind an unbound rank, from the test's own
 * facts: auto mode, nobody on the node bound, enough PUs, no host clash. */
static int expect_mdsm_binding(hwloc_topology_t t, int any_local_bound, int local_nranks)
{
    int clash = host_clash();
    int npus = hwloc_bitmap_weight(hwloc_topology_get_topology_cpuset(t));
    return bind_mode_auto() && !any_local_bound && local_nranks <= npus && !clash;
}

/* Collective over the node: whether any node-local rank is bound now. */
static int any_local_bound(hwloc_topology_t t, int *me_bound)
{
    hwloc_bitmap_t now = current_binding(t);
    int mine = hwloc_topology_is_thissystem(t) &&
               !hwloc_bitmap_isincluded(hwloc_topology_get_topology_cpuset(t), now),
        any = 0;
    hwloc_bitmap_free(now);
    MPI_Comm shared;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mt_rank(), MPI_INFO_NULL, &shared);
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, shared);
    MPI_Comm_free(&shared);
    if (me_bound)
        *me_bound = mine;
    return any;
}

static char *info_text(void)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (mdsm_info_print(f) != MDSM_OK)
        mt_fail(__FILE__, __LINE__, "mdsm_info_print failed: %s", mdsm_last_error_message());
    fclose(f);
    return text;
}

MT_TEST(topo, binding_is_kept_or_applied_and_undone_at_finalize)
{
    hwloc_topology_t t = load_topology();
    MT_ASSERT(t != NULL);
    int this_system = hwloc_topology_is_thissystem(t);
    hwloc_bitmap_t before = current_binding(t);
    cpu_set_t raw_before, raw_after;
    sched_getaffinity(0, sizeof(raw_before), &raw_before);
    int launcher_bound = 0, peers_bound = any_local_bound(t, &launcher_bound);
    const char *expect = getenv("TOPO_EXPECT_BINDING");
    if (expect && strcmp(expect, "launcher") == 0)
        MT_EXPECT(launcher_bound);
    if (expect && strcmp(expect, "unbound") == 0)
        MT_EXPECT(!launcher_bound);

    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    mdsm_placement_t p;
    MT_EXPECT_OK(mdsm_placement_get(&p));
    int want_mdsm = expect_mdsm_binding(t, peers_bound, p.local_nranks); /* collective */
    MT_EXPECT_EQ(p.this_system, this_system);
    hwloc_bitmap_t during = current_binding(t);
    if (launcher_bound) {
        MT_EXPECT_EQ(p.binding, MDSM_BINDING_LAUNCHER);
        MT_EXPECT(sets_equal(before, p.cpuset));
        MT_EXPECT(hwloc_bitmap_isequal(during, before));
        MT_EXPECT_EQ(p.binding_applied, 0);
    } else {
        MT_EXPECT_EQ(p.binding, want_mdsm ? MDSM_BINDING_MDSM : MDSM_BINDING_NONE);
        MT_EXPECT_EQ(p.binding_applied, this_system && want_mdsm);
        if (this_system && want_mdsm)
            MT_EXPECT(sets_equal(during, p.cpuset));
        else if (this_system)
            MT_EXPECT(hwloc_bitmap_isequal(during, before));
    }
    sched_getaffinity(0, sizeof(raw_after), &raw_after);
    if (!this_system) /* decisions for another machine are never applied */
        MT_EXPECT(CPU_EQUAL(&raw_before, &raw_after));
    MT_EXPECT_OK(mdsm_finalize());

    hwloc_bitmap_t after = current_binding(t);
    MT_EXPECT(hwloc_bitmap_isequal(after, before));
    hwloc_bitmap_free(after);
    hwloc_bitmap_free(during);
    hwloc_bitmap_free(before);
    hwloc_topology_destroy(t);
}

/* Where each node-local rank landed, as seen by all of them. */
struct landing {
    int binding, numa;
    char cpuset[512];
};

/* Balanced spread: every object of type holds as many ranks as any other, give or take one. */
static void expect_balanced(hwloc_topology_t t, hwloc_obj_type_t type, hwloc_bitmap_t *sets, int n)
{
    int nobj = hwloc_get_nbobjs_by_type(t, type), lo = n, hi = 0;
    for (int i = 0; i < nobj; i++) {
        hwloc_obj_t o = hwloc_get_obj_by_type(t, type, (unsigned)i);
        if (hwloc_bitmap_iszero(o->cpuset))
            continue;
        int count = 0;
        for (int r = 0; r < n; r++)
            count += hwloc_bitmap_intersects(sets[r], o->cpuset);
        lo = count < lo ? count : lo;
        hi = count > hi ? count : hi;
    }
    if (nobj > 0 && hi - lo > 1)
        mt_fail(__FILE__, __LINE__, "%s objects hold between %d and %d ranks each",
                hwloc_obj_type_string(type), lo, hi);
}

MT_MDSM_TEST(topo, decisions_spread_ranks_over_cores_and_numa_nodes)
{
    hwloc_topology_t t = load_topology();
    MT_ASSERT(t != NULL);
    mdsm_placement_t p;
    MT_ASSERT_OK(mdsm_placement_get(&p));
    hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset(t);
    int npus = hwloc_bitmap_weight(all), ncores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
    if (!p.this_system) /* nothing is bound on a machine that is not this one */
        MT_EXPECT_EQ(p.binding, bind_mode_auto() && p.local_nranks <= npus ? MDSM_BINDING_MDSM
                                                                           : MDSM_BINDING_NONE);
    if (p.binding == MDSM_BINDING_NONE)
        MT_EXPECT(sets_equal(all, p.cpuset));

    MPI_Comm shared;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mt_rank(), MPI_INFO_NULL, &shared);
    int n = p.local_nranks, all_mdsm = 0, is_mdsm = p.binding == MDSM_BINDING_MDSM;
    struct landing me = {p.binding, p.numa_node, {0}};
    memcpy(me.cpuset, p.cpuset, sizeof(me.cpuset));
    struct landing *l = calloc((size_t)n, sizeof(*l));
    MPI_Allgather(&me, sizeof(me), MPI_BYTE, l, sizeof(me), MPI_BYTE, shared);
    MPI_Allreduce(&is_mdsm, &all_mdsm, 1, MPI_INT, MPI_MIN, shared);
    MPI_Comm_free(&shared);

    hwloc_bitmap_t *sets = calloc((size_t)n, sizeof(*sets));
    hwloc_bitmap_t nodes = hwloc_bitmap_alloc(), covered = hwloc_bitmap_alloc(),
                   used_numa = hwloc_bitmap_alloc();
    for (int r = 0; r < n; r++) {
        sets[r] = parse_set(l[r].cpuset);
        /* Home memory goes to the NUMA node holding all of the rank's PUs, if one does. */
        hwloc_cpuset_to_nodeset(t, sets[r], nodes);
        MT_EXPECT_EQ(l[r].numa, hwloc_bitmap_weight(nodes) == 1 ? hwloc_bitmap_first(nodes) : -1);
    }
    if (all_mdsm) {
        for (int r = 0; r < n; r++) {
            MT_EXPECT(!hwloc_bitmap_iszero(sets[r]) && hwloc_bitmap_isincluded(sets[r], all));
            MT_EXPECT(l[r].numa >= 0);
            for (int s = 0; s < r; s++)
                if (hwloc_bitmap_intersects(sets[r], sets[s]))
                    mt_fail(__FILE__, __LINE__, "local ranks %d and %d share PUs: %s and %s", s, r,
                            l[s].cpuset, l[r].cpuset);
            /* Whole cores while every rank can have one, else one PU each. */
            if (n <= ncores) {
                hwloc_obj_t core = NULL;
                while ((core = hwloc_get_next_obj_covering_cpuset_by_type(
                            t, sets[r], HWLOC_OBJ_CORE, core)) != NULL)
                    MT_EXPECT(hwloc_bitmap_isincluded(core->cpuset, sets[r]));
            } else {
                MT_EXPECT_EQ(hwloc_bitmap_weight(sets[r]), 1);
            }
            hwloc_bitmap_or(covered, covered, sets[r]);
            hwloc_bitmap_set(used_numa, (unsigned)(l[r].numa >= 0 ? l[r].numa : 0));
        }
        expect_balanced(t, HWLOC_OBJ_PACKAGE, sets, n);
        expect_balanced(t, HWLOC_OBJ_NUMANODE, sets, n);
        /* No PU idles on a NUMA node that has ranks (with at most one rank per PU). */
        hwloc_bitmap_t want = hwloc_bitmap_alloc();
        hwloc_cpuset_from_nodeset(t, want, used_numa);
        if (n <= ncores)
            MT_EXPECT(hwloc_bitmap_isequal(covered, want));
        hwloc_bitmap_free(want);
    }
    for (int r = 0; r < n; r++)
        hwloc_bitmap_free(sets[r]);
    free(sets);
    free(l);
    hwloc_bitmap_free(nodes);
    hwloc_bitmap_free(covered);
    hwloc_bitmap_free(used_numa);
    hwloc_topology_destroy(t);
}

/* Can this process bind memory at all? (Containers may forbid mbind.) */
static int os_allows_membind(hwloc_topology_t t, int node, char *why, size_t len)
{
    size_t sz = 1 << 16;
    void *probe = hwloc_alloc(t, sz);
    hwloc_bitmap_t ns = hwloc_bitmap_alloc();
    hwloc_bitmap_only(ns, (unsigned)node);
    int ok = probe && hwloc_set_area_membind(t, probe, sz, ns, HWLOC_MEMBIND_BIND,
                                             HWLOC_MEMBIND_BYNODESET) == 0;
    if (!ok)
        snprintf(why, len, "%s", strerror(errno));
    hwloc_bitmap_free(ns);
    if (probe)
        hwloc_free(t, probe, sz);
    return ok;
}

MT_MDSM_TEST(topo, home_memory_is_on_the_decided_numa_node)
{
    hwloc_topology_t t = load_topology();
    MT_ASSERT(t != NULL);
    mdsm_placement_t p;
    MT_ASSERT_OK(mdsm_placement_get(&p));
    long page = mdsm_page_size();
    char *mem = mdsm_alloc((size_t)page * (size_t)mt_nranks());
    MT_ASSERT(mem != NULL);
    char *home = NULL;
    for (int i = 0; i < mt_nranks(); i++)
        if (mdsm_home_of(mem + (long)i * page) == mt_rank())
            home = mem + (long)i * page;
    MT_EXPECT(home != NULL);
    if (home)
        memset(home, 0x5a, (size_t)page); /* first touch, through the global address */

    if (!p.this_system || p.numa_node < 0) {
        MT_EXPECT_EQ(p.home_placed, 0);
    } else if (p.node_sharing && p.local_nranks > 1) {
        /* The node's file is shared: left to first touch, which was this rank's. */
        MT_EXPECT_EQ(p.home_placed, 0);
        hwloc_bitmap_t where = hwloc_bitmap_alloc();
        if (home) {
            MT_EXPECT_EQ(
                hwloc_get_area_memlocation(t, home, (size_t)page, where, HWLOC_MEMBIND_BYNODESET),
                0);
            MT_EXPECT(hwloc_bitmap_weight(where) == 1 && hwloc_bitmap_first(where) == p.numa_node);
        }
        hwloc_bitmap_free(where);
    } else if (!p.home_placed) {
        char why[128] = "";
        MT_EXPECT(!os_allows_membind(t, p.numa_node, why, sizeof(why)));
        if (mt_rank() == 0)
            printf("[ SKIPPED  ] the OS refuses memory binding here (%s); home pages not checked\n",
                   why);
    } else if (home) {
        hwloc_bitmap_t where = hwloc_bitmap_alloc(), policy_nodes = hwloc_bitmap_alloc();
        hwloc_membind_policy_t policy;
        MT_EXPECT_EQ(
            hwloc_get_area_memlocation(t, home, (size_t)page, where, HWLOC_MEMBIND_BYNODESET), 0);
        MT_EXPECT_EQ(hwloc_bitmap_weight(where), 1);
        MT_EXPECT_EQ(hwloc_bitmap_first(where), p.numa_node);
        /* The policy is on the memfd, so the global mapping sees it too. */
        MT_EXPECT_EQ(hwloc_get_area_membind(t, home, (size_t)page, policy_nodes, &policy,
                                            HWLOC_MEMBIND_BYNODESET),
                     0);
        MT_EXPECT_EQ(policy, HWLOC_MEMBIND_BIND);
        MT_EXPECT(hwloc_bitmap_weight(policy_nodes) == 1 &&
                  hwloc_bitmap_first(policy_nodes) == p.numa_node);
        hwloc_bitmap_free(where);
        hwloc_bitmap_free(policy_nodes);
    }
    MT_EXPECT_OK(mdsm_barrier());
    /* The home copy is what other ranks read. */
    int next = (mt_rank() + 1) % mt_nranks();
    for (int i = 0; i < mt_nranks(); i++)
        if (mdsm_home_of(mem + (long)i * page) == next)
            MT_EXPECT_EQ((unsigned char)mem[(long)i * page + page - 1], 0x5a);
    MT_EXPECT_OK(mdsm_free(mem));
    hwloc_topology_destroy(t);
}

MT_TEST(topo, bind_variable_is_strict_and_none_binds_nothing)
{
    set_bind("core");
    int bad = mdsm_init(MPI_COMM_WORLD, NULL);
    restore_bind();
    MT_EXPECT_RC(bad, MDSM_ERR_CONFIG);
    MT_EXPECT(strstr(mdsm_last_error_message(), "MDSM_BIND='core' is invalid") != NULL);
    MT_EXPECT(strstr(mdsm_last_error_message(), "auto, none") != NULL);
    MT_EXPECT_EQ(mdsm_initialized(), 0);

    hwloc_topology_t t = load_topology();
    MT_ASSERT(t != NULL);
    hwloc_bitmap_t before = current_binding(t);
    set_bind("NONE");
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    restore_bind();
    MT_ASSERT_OK(rc);
    mdsm_placement_t p;
    MT_EXPECT_OK(mdsm_placement_get(&p));
    MT_EXPECT(p.binding != MDSM_BINDING_MDSM);
    MT_EXPECT_EQ(p.binding_applied, 0);
    hwloc_bitmap_t during = current_binding(t);
    MT_EXPECT(hwloc_bitmap_isequal(during, before));
    char *text = info_text();
    if (p.binding == MDSM_BINDING_NONE)
        MT_EXPECT(strstr(text, "(MDSM_BIND=none)") != NULL);
    free(text);
    MT_EXPECT_OK(mdsm_finalize());
    hwloc_bitmap_free(during);
    hwloc_bitmap_free(before);
    hwloc_topology_destroy(t);
}

MT_MDSM_TEST(topo, info_reports_topology_node_binding_and_home)
{
    hwloc_topology_t t = load_topology();
    MT_ASSERT(t != NULL);
    mdsm_placement_t p;
    MT_ASSERT_OK(mdsm_placement_get(&p));
    char *text = info_text();
    static const char *const names[] = {"none", "launcher", "mdsm"};
    char want[4][640];
    snprintf(want[0], sizeof(want[0]), "topology: %d packages, %d NUMA nodes, %d cores, %d PUs (%s",
             hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE),
             hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE),
             hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE), hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU),
             hwloc_topology_is_thissystem(t) ? "this machine" : "not this machine");
    snprintf(want[1], sizeof(want[1]), "node: %d of %d, local rank %d of %d\n", p.node, p.nnodes,
             p.local_rank, p.local_nranks);
    snprintf(want[2], sizeof(want[2]), "binding: %s, PUs %s (", names[p.binding], p.cpuset);
    if (p.numa_node >= 0)
        snprintf(want[3], sizeof(want[3]), "home memory: NUMA node %d, %s", p.numa_node,
                 p.home_placed ? "bound" : "not");
    else
        snprintf(want[3], sizeof(want[3]), "home memory: no single NUMA node, not bound");
    for (int i = 0; i < 4; i++)
        if (!strstr(text, want[i]))
            mt_fail(__FILE__, __LINE__, "mdsm_info_print lacks '%s' in:\n%s", want[i], text);
    free(text);
    hwloc_topology_destroy(t);
}

/* A rank the application bound itself is kept, and the unbound ranks of its
 * node stay unbound rather than take shares that could overlap it. Ranks with
 * the host name of another node (scripts/mpirun-hosts.sh) are never bound,
 * even with MDSM_BIND=auto. */
MT_TEST(topo, bound_peers_and_shared_host_names_prevent_binding)
{
    hwloc_topology_t t = load_topology();
    MT_ASSERT(t != NULL);
    hwloc_const_cpuset_t all = hwloc_topology_get_topology_cpuset(t);
    int this_system = hwloc_topology_is_thissystem(t), clash = host_clash();
    int nobody_bound = !any_local_bound(t, NULL), local_rank, local_n;
    MPI_Comm shared;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, mt_rank(), MPI_INFO_NULL, &shared);
    MPI_Comm_rank(shared, &local_rank);
    MPI_Comm_size(shared, &local_n);
    MPI_Comm_free(&shared);
    /* The self-binding case needs an unbound node of this machine with room. */
    int self_bind = this_system && nobody_bound && !clash && local_n > 1 &&
                    local_n <= hwloc_bitmap_weight(all) && local_rank == 0;
    hwloc_bitmap_t before = current_binding(t), pu = hwloc_bitmap_alloc();
    hwloc_bitmap_only(pu, (unsigned)hwloc_bitmap_first(all));
    if (self_bind)
        MT_EXPECT_EQ(hwloc_set_cpubind(t, pu, HWLOC_CPUBIND_PROCESS), 0);
    int peer_case = 0;
    MPI_Allreduce(&self_bind, &peer_case, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);

    set_bind("auto");
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    restore_bind();
    MT_ASSERT_OK(rc);
    mdsm_placement_t p;
    MT_EXPECT_OK(mdsm_placement_get(&p));
    char *text = info_text();
    if (self_bind) {
        MT_EXPECT_EQ(p.binding, MDSM_BINDING_LAUNCHER);
        MT_EXPECT(sets_equal(pu, p.cpuset));
    } else if (peer_case && this_system && !clash) {
        MT_EXPECT_EQ(p.binding, MDSM_BINDING_NONE);
        MT_EXPECT(strstr(text, "other ranks of this node were bound") != NULL);
    }
    if (clash) {
        MT_EXPECT_EQ(p.binding, MDSM_BINDING_NONE);
        MT_EXPECT(strstr(text, "have this host name") != NULL);
    }
    if (mt_rank() == 0 && !peer_case && !clash)
        printf("[ SKIPPED  ] neither case applies here (bound, synthetic, one rank per node, or "
               "more ranks than PUs)\n");
    free(text);
    MT_EXPECT_OK(mdsm_finalize());
    if (self_bind)
        hwloc_set_cpubind(t, before, HWLOC_CPUBIND_PROCESS);
    hwloc_bitmap_free(pu);
    hwloc_bitmap_free(before);
    hwloc_topology_destroy(t);
}
