/*
 * mdsm's statistics as PAPI Software Defined Events, read the way any PAPI
 * program reads them (PAPI_library_init, PAPI_add_named_event): known work
 * moves sde:::mdsm:: counters by exact amounts, equal to mdsm_stats_get's,
 * across mdsm_stats_reset and mdsm_init/mdsm_finalize cycles. Then the region
 * helper of mdsm_papi.h: mdsm and perf_event events over one region, its
 * error codes, and hardware counters (skipped where the machine has none).
 */
#include <papi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mdsm_papi.h"
#include "mt.h"
#include "node_check.h"

#define MAX_SET 32

/* PAPI once per process: the test binary runs many bodies. */
static int papi_ready(void)
{
    if (PAPI_is_initialized() != PAPI_NOT_INITED)
        return 1;
    int v = PAPI_library_init(PAPI_VER_CURRENT);
    if (v != PAPI_VER_CURRENT)
        mt_fail(__FILE__, __LINE__, "PAPI_library_init returned %d (%s)", v,
                v < 0 ? PAPI_strerror(v) : "version mismatch");
    return v == PAPI_VER_CURRENT;
}

/* 1 on every rank when PAPI's perf_event component, which serves the
 * kernel's software events (perf::PERF_COUNT_SW_*), is disabled on any rank:
 * PAPI disables it where libpfm4 finds no PMU for the CPU (some VMs). The
 * reason goes to why. Collective. */
static int perf_component_missing(char *why, size_t len)
{
    int missing = 1;
    snprintf(why, len, "PAPI is not initialised");
    if (papi_ready()) {
        int cidx = PAPI_get_component_index("perf_event");
        const PAPI_component_info_t *ci = cidx >= 0 ? PAPI_get_component_info(cidx) : NULL;
        missing = !ci || ci->disabled;
        snprintf(why, len, "%s", !ci ? "PAPI has no perf_event component" : ci->disabled_reason);
    }
    int any = 0;
    MPI_Allreduce(&missing, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any && !missing)
        snprintf(why, len, "see another rank");
    return any;
}

#define SKIP_WITHOUT_PERF_EVENTS()                                                                 \
    do {                                                                                           \
        char why_[PAPI_HUGE_STR_LEN + 32];                                                         \
        if (perf_component_missing(why_, sizeof(why_)))                                            \
            MT_SKIP("PAPI's perf_event component is disabled here: %s", why_);                     \
    } while (0)

/* An event set of sde:::mdsm::<names[i]>. */
struct sde_set {
    int es;
    int n;
    const char *names[MAX_SET];
    long long v[MAX_SET];
};

static int sde_open(struct sde_set *s, const char *const *names, int n)
{
    s->es = PAPI_NULL;
    s->n = n;
    if (!papi_ready())
        return -1;
    int rc = PAPI_create_eventset(&s->es);
    if (rc != PAPI_OK) {
        mt_fail(__FILE__, __LINE__, "PAPI_create_eventset: %s", PAPI_strerror(rc));
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char full[128];
        snprintf(full, sizeof(full), "sde:::mdsm::%s", names[i]);
        s->names[i] = names[i];
        rc = PAPI_add_named_event(s->es, full);
        if (rc != PAPI_OK) {
            mt_fail(__FILE__, __LINE__, "PAPI_add_named_event(%s): %s", full, PAPI_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static int sde_call(int rc, const char *what)
{
    if (rc != PAPI_OK)
        mt_fail(__FILE__, __LINE__, "%s: %s", what, PAPI_strerror(rc));
    return rc == PAPI_OK ? 0 : -1;
}

static void sde_close(struct sde_set *s)
{
    if (s->es == PAPI_NULL)
        return;
    PAPI_cleanup_eventset(s->es);
    PAPI_destroy_eventset(&s->es);
}

/* The mdsm_stats_t value behind an event's name; -1 if the test does not know it. */
static int stat_value(const mdsm_stats_t *st, const char *name, long long *value, int *is_ns)
{
    static const struct {
        const char *name;
        size_t offset;
        int ns;
    } map[] = {
        {"READ_FAULTS", offsetof(mdsm_stats_t, read_faults), 0},
        {"WRITE_FAULTS", offsetof(mdsm_stats_t, write_faults), 0},
        {"PAGES_FETCHED", offsetof(mdsm_stats_t, pages_fetched), 0},
        {"BYTES_FETCHED", offsetof(mdsm_stats_t, bytes_fetched), 0},
        {"DIFFS", offsetof(mdsm_stats_t, diffs), 0},
        {"DIFF_BYTES", offsetof(mdsm_stats_t, diff_bytes), 0},
        {"INVALIDATIONS", offsetof(mdsm_stats_t, invalidations), 0},
        {"EVICTIONS", offsetof(mdsm_stats_t, evictions), 0},
        {"LOCK_ACQUIRES", offsetof(mdsm_stats_t, lock_acquires), 0},
        {"LOCK_WAIT_NS", offsetof(mdsm_stats_t, lock_wait_s), 1},
        {"BARRIERS", offsetof(mdsm_stats_t, barriers), 0},
        {"BARRIER_NS", offsetof(mdsm_stats_t, barrier_s), 1},
        {"NODE_READ_FAULTS", offsetof(mdsm_stats_t, node_read_faults), 0},
        {"NODE_WRITE_FAULTS", offsetof(mdsm_stats_t, node_write_faults), 0},
        {"SHARED_HOME_PAGES", offsetof(mdsm_stats_t, shared_home_pages), 0},
        {"PAGES_PREFETCHED", offsetof(mdsm_stats_t, pages_prefetched), 0},
        {"PAGES_REFRESHED", offsetof(mdsm_stats_t, pages_refreshed), 0},
        {"RMA_OPS", offsetof(mdsm_stats_t, rma_ops), 0},
        {"RMA_BYTES", offsetof(mdsm_stats_t, rma_bytes), 0},
        {"MESSAGES", offsetof(mdsm_stats_t, messages), 0},
        {"MESSAGE_BYTES", offsetof(mdsm_stats_t, message_bytes), 0},
        {"COLLECTIVES", offsetof(mdsm_stats_t, collectives), 0},
        {"COLLECTIVE_BYTES", offsetof(mdsm_stats_t, collective_bytes), 0},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].name, name) != 0)
            continue;
        const char *p = (const char *)st + map[i].offset;
        *is_ns = map[i].ns;
        *value =
            map[i].ns ? (long long)(*(const double *)p * 1e9) : (long long)*(const uint64_t *)p;
        return 0;
    }
    return -1;
}

/* Each PAPI value equals mdsm_stats_get's (times within 1 us of rounding). */
static void expect_matches_stats(const struct sde_set *s)
{
    mdsm_stats_t st;
    MT_ASSERT_OK(mdsm_stats_get(&st));
    for (int i = 0; i < s->n; i++) {
        long long want = 0;
        int ns = 0;
        if (stat_value(&st, s->names[i], &want, &ns) != 0) {
            mt_fail(__FILE__, __LINE__, "event %s has no mdsm_stats_t field", s->names[i]);
            continue;
        }
        long long d = s->v[i] - want;
        if (ns ? (d < -1000 || d > 1000) : d != 0)
            mt_fail(__FILE__, __LINE__,
                    "sde:::mdsm::%s reads %lld through PAPI, mdsm_stats_get %lld", s->names[i],
                    s->v[i], want);
    }
}

static unsigned char pattern(size_t page, size_t i, int rank)
{
    return (unsigned char)(1 + (page * 31 + i + (size_t)rank * 7) % 250); /* never 0 */
}

/* A fresh allocation of pages_per_rank pages per rank; each rank fills the
 * first byte of every page it homes. */
static volatile unsigned char *alloc_filled(size_t pages, long ps)
{
    volatile unsigned char *a = mdsm_alloc(pages * (size_t)ps);
    if (!a)
        return NULL;
    for (size_t p = 0; p < pages; p++)
        if (mdsm_home_of((const void *)(a + p * ps)) == mdsm_rank())
            a[p * ps] = pattern(p, 0, 0);
    return a;
}

MT_MDSM_TEST(papi, remote_reads_move_fault_and_fetch_counters_exactly)
{
    MT_ASSERT_OK(dc_node_map_init());
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    size_t pages = 8 * (size_t)n;
    volatile unsigned char *a = alloc_filled(pages, ps);
    MT_ASSERT(a != NULL);
    MT_ASSERT_OK(mdsm_barrier());

    static const char *names[] = {"READ_FAULTS", "PAGES_FETCHED", "BYTES_FETCHED", "WRITE_FAULTS"};
    struct sde_set s;
    int ok = sde_open(&s, names, 4) == 0;
    long long remote = 0, fetched = 0; /* pages of other ranks; those not used in place */
    MT_EXPECT_OK(mdsm_stats_reset());
    ok = ok && sde_call(PAPI_start(s.es), "PAPI_start") == 0;
    for (size_t p = pages; p-- > 0;) { /* last first: one read fault per page, no prefetch */
        if (mdsm_home_of((const void *)(a + p * ps)) == me)
            continue;
        remote++;
        fetched += !dc_shares_home(mdsm_home_of((const void *)(a + p * ps)));
        if (a[p * ps] != pattern(p, 0, 0))
            mt_fail(__FILE__, __LINE__, "page %zu (home rank %d) reads %d, its home wrote %d", p,
                    mdsm_home_of((const void *)(a + p * ps)), a[p * ps], pattern(p, 0, 0));
    }
    ok = ok && sde_call(PAPI_stop(s.es, s.v), "PAPI_stop") == 0;
    MT_EXPECT_EQ(remote, (long long)(n - 1) * 8);
    if (ok) {
        MT_EXPECT_EQ(s.v[0], fetched);
        MT_EXPECT_EQ(s.v[1], fetched);
        MT_EXPECT_EQ(s.v[2], fetched * ps);
        MT_EXPECT_EQ(s.v[3], 0);
        expect_matches_stats(&s);
    }
    sde_close(&s);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)a));
}

/* First page at or after from homed by rank home; pages if none. */
static size_t page_homed_by(volatile unsigned char *a, size_t pages, long ps, int home)
{
    for (size_t p = 0; p < pages; p++)
        if (mdsm_home_of((const void *)(a + p * ps)) == home)
            return p;
    return pages;
}

/* Rank r writes W(r) bytes at the start of a page homed by rank r+1 and
 * W(r) bytes in the middle of a page of its own: only the remote page is a
 * diff, of exactly W(r) bytes, unless rank r uses rank r+1's home pages in
 * place (node sharing). Every rank then reads all writes back. */
static size_t written_bytes(int rank)
{
    return 100 + 37 * (size_t)rank;
}

MT_MDSM_TEST(papi, written_bytes_move_diff_counters_exactly)
{
    MT_ASSERT_OK(dc_node_map_init());
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    size_t pages = 4 * (size_t)n;
    volatile unsigned char *a = mdsm_alloc(pages * (size_t)ps);
    MT_ASSERT(a != NULL);
    size_t w = written_bytes(me), own = page_homed_by(a, pages, ps, me);
    size_t remote = n > 1 ? page_homed_by(a, pages, ps, (me + 1) % n) : pages;
    MT_ASSERT(own < pages);
    MT_ASSERT(n == 1 || remote < pages);

    static const char *names[] = {"DIFFS", "DIFF_BYTES", "WRITE_FAULTS", "READ_FAULTS"};
    struct sde_set s;
    int ok = sde_open(&s, names, 4) == 0;
    MT_EXPECT_OK(mdsm_stats_reset());
    ok = ok && sde_call(PAPI_start(s.es), "PAPI_start") == 0;
    for (size_t i = 0; i < w && n > 1; i++)
        a[remote * ps + i] = pattern(remote, i, me);
    for (size_t i = 0; i < w; i++)
        a[own * ps + (size_t)ps / 2 + i] = pattern(own, i, me);
    MT_EXPECT_OK(mdsm_release());
    ok = ok && sde_call(PAPI_stop(s.es, s.v), "PAPI_stop") == 0;
    /* The neighbour's page is a diff unless its home memory is used in place. */
    long long remote_pages = n > 1 && !dc_shares_home((me + 1) % n);
    if (ok) {
        MT_EXPECT_EQ(s.v[0], remote_pages);
        MT_EXPECT_EQ(s.v[1], remote_pages * (long long)w);
        /* only the neighbour's page faults: nobody has fetched this rank's own */
        MT_EXPECT_EQ(s.v[2], dc_writes_untracked() ? 0 : n > 1);
        MT_EXPECT_EQ(s.v[3], remote_pages);
        expect_matches_stats(&s);
    }
    sde_close(&s);

    MT_EXPECT_OK(mdsm_barrier());
    for (int r = 0; r < n; r++) {
        size_t rw = written_bytes(r), ro = page_homed_by(a, pages, ps, r);
        size_t rr = n > 1 ? page_homed_by(a, pages, ps, (r + 1) % n) : pages;
        for (size_t i = 0; i < rw; i++) {
            if (rr < pages && a[rr * ps + i] != pattern(rr, i, r)) {
                mt_fail(__FILE__, __LINE__,
                        "byte %zu of page %zu written by rank %d reads %d, want %d", i, rr, r,
                        a[rr * ps + i], pattern(rr, i, r));
                break;
            }
            if (a[ro * ps + (size_t)ps / 2 + i] != pattern(ro, i, r)) {
                mt_fail(__FILE__, __LINE__,
                        "byte %zu of page %zu (middle) written by rank %d reads %d, want %d",
                        (size_t)ps / 2 + i, ro, r, a[ro * ps + (size_t)ps / 2 + i],
                        pattern(ro, i, r));
                break;
            }
        }
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)a));
}

enum { COUNTERS = 4, BARRIERS = 5 };

static int acquires_of(int rank)
{
    return 3 + 2 * rank;
}

MT_MDSM_TEST(papi, locks_and_barriers_move_their_counters_exactly)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    volatile int64_t *ctr = mdsm_alloc(COUNTERS * sizeof(int64_t));
    MT_ASSERT(ctr != NULL);
    static const char *names[] = {"LOCK_ACQUIRES", "BARRIERS", "LOCK_WAIT_NS", "BARRIER_NS"};
    struct sde_set s;
    int ok = sde_open(&s, names, 4) == 0;
    MT_EXPECT_OK(mdsm_stats_reset());
    ok = ok && sde_call(PAPI_start(s.es), "PAPI_start") == 0;
    for (int j = 0; j < acquires_of(me); j++) {
        int lock = j % COUNTERS;
        MT_EXPECT_OK(mdsm_lock(lock));
        ctr[lock] += 1;
        MT_EXPECT_OK(mdsm_unlock(lock));
    }
    for (int b = 0; b < BARRIERS; b++)
        MT_EXPECT_OK(mdsm_barrier());
    ok = ok && sde_call(PAPI_stop(s.es, s.v), "PAPI_stop") == 0;
    if (ok) {
        MT_EXPECT_EQ(s.v[0], acquires_of(me));
        MT_EXPECT_EQ(s.v[1], BARRIERS);
        MT_EXPECT_GE(s.v[2], 0);
        MT_EXPECT_GE(s.v[3], 1); /* a barrier takes time */
        expect_matches_stats(&s);
    }
    sde_close(&s);
    long long want[COUNTERS] = {0};
    for (int r = 0; r < n; r++)
        for (int j = 0; j < acquires_of(r); j++)
            want[j % COUNTERS]++;
    for (int c = 0; c < COUNTERS; c++)
        MT_EXPECT_EQ(ctr[c], want[c]);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)ctr));
}

/* All of mdsm's events in one set over work that moves each of them, with a
 * 16-page cache so that reading every remote page evicts. */
MT_TEST(papi, every_event_equals_mdsm_stats_get)
{
    int nev = mdsm_papi_num_events();
    MT_ASSERT(nev > 0 && nev <= MAX_SET);
    const char *names[MAX_SET];
    for (int i = 0; i < nev; i++) {
        const char *full = NULL;
        MT_ASSERT_OK(mdsm_papi_event(i, &full, NULL));
        MT_ASSERT(strncmp(full, "sde:::mdsm::", 12) == 0);
        names[i] = full + 12;
    }
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.cache_size = 64 * 1024;
    cfg.page_size = 4096;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    MT_ASSERT_OK(dc_node_map_init());
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t pages = 24 * (size_t)n;
    volatile unsigned char *a = alloc_filled(pages, 4096);
    if (!a) {
        mt_fail(__FILE__, __LINE__, "mdsm_alloc: %s", mdsm_last_error_message());
        mdsm_finalize();
        return;
    }
    MT_EXPECT_OK(mdsm_barrier());

    struct sde_set s;
    int ok = sde_open(&s, names, nev) == 0;
    MT_EXPECT_OK(mdsm_stats_reset());
    ok = ok && sde_call(PAPI_start(s.es), "PAPI_start") == 0;
    long long remote = 0, cached = 0;
    for (size_t p = pages; p-- > 0;) { /* last first: one read fault per page, no prefetch */
        int h = mdsm_home_of((const void *)(a + p * 4096));
        if (h != me && a[p * 4096] == pattern(p, 0, 0)) {
            remote++;
            cached += !dc_shares_home(h);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD); /* every fetch is over before the release below */
    size_t own = page_homed_by(a, pages, 4096, me);
    a[own * 4096 + 8] = 1; /* others have it cached from the reads: they invalidate */
    if (n > 1) {
        size_t other = page_homed_by(a, pages, 4096, (me + 1) % n);
        a[other * 4096 + 16 + (size_t)me] = 1;
    }
    MT_EXPECT_OK(mdsm_lock(0));
    MT_EXPECT_OK(mdsm_unlock(0));
    MT_EXPECT_OK(mdsm_barrier());
    ok = ok && sde_call(PAPI_stop(s.es, s.v), "PAPI_stop") == 0;
    MT_EXPECT_EQ(remote, 24 * (long long)(n - 1));
    if (ok) {
        expect_matches_stats(&s);
        mdsm_stats_t st;
        MT_EXPECT_OK(mdsm_stats_get(&st));
        MT_EXPECT_GE(st.read_faults, cached);
        MT_EXPECT_GE(st.evictions, cached > 16 ? cached - 16 : 0);
        MT_EXPECT_EQ(st.lock_acquires, 1);
        MT_EXPECT_EQ(st.barriers, 1);
        /* the write to the neighbour's page is a diff unless used in place */
        MT_EXPECT_EQ(st.diffs, n > 1 && !dc_shares_home((me + 1) % n) ? 1 : 0);
        /* Every home page of this rank was fetched by the ranks that do not
         * share its home memory; its own write came before its next release,
         * which is when it learns that, so only a write to a neighbour's page
         * used in place can be a node write fault. */
        int fetched_elsewhere = 0;
        for (int r = 0; r < n; r++)
            fetched_elsewhere |= r != me && !dc_shares_home(r);
        MT_EXPECT_EQ(st.shared_home_pages, fetched_elsewhere ? 24 : 0);
        MT_EXPECT_EQ(st.node_write_faults,
                     n > 1 && dc_shares_home((me + 1) % n) && !dc_writes_untracked() ? 1 : 0);
    }
    sde_close(&s);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)a));
    MT_EXPECT_OK(mdsm_finalize());
}

/* PAPI counts from its PAPI_start: neither mdsm_stats_reset nor a new
 * mdsm_init session may make the count go back or lose what came before. */
MT_TEST(papi, counts_survive_stats_reset_and_init_finalize_cycles)
{
    static const char *names[] = {"BARRIERS", "LOCK_ACQUIRES"};
    struct sde_set s;
    MT_ASSERT(sde_open(&s, names, 2) == 0);
    MT_ASSERT(sde_call(PAPI_start(s.es), "PAPI_start") == 0); /* before any mdsm_init */
    long long barriers = 0, locks = 0;
    for (int cycle = 0; cycle < 3; cycle++) {
        MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
        for (int b = 0; b < cycle + 2; b++)
            MT_EXPECT_OK(mdsm_barrier());
        MT_EXPECT_OK(mdsm_lock(cycle));
        MT_EXPECT_OK(mdsm_unlock(cycle));
        MT_EXPECT_OK(mdsm_stats_reset());
        MT_EXPECT_OK(mdsm_barrier());
        barriers += cycle + 3;
        locks += 1;
        mdsm_stats_t st;
        MT_EXPECT_OK(mdsm_stats_get(&st));
        MT_EXPECT_EQ(st.barriers, 1); /* only since the reset */
        MT_EXPECT_OK(sde_call(PAPI_read(s.es, s.v), "PAPI_read") == 0 ? MDSM_OK : MDSM_ERR_PAPI);
        MT_EXPECT_EQ(s.v[0], barriers);
        MT_EXPECT_EQ(s.v[1], locks);
        MT_EXPECT_OK(mdsm_finalize());
    }
    MT_EXPECT(sde_call(PAPI_stop(s.es, s.v), "PAPI_stop") == 0);
    MT_EXPECT_EQ(s.v[0], barriers);
    MT_EXPECT_EQ(s.v[1], locks);
    sde_close(&s);
}

MT_MDSM_TEST(papi, event_list_and_info_line)
{
    int nev = mdsm_papi_num_events();
    MT_EXPECT_EQ(nev, (long long)(sizeof(mdsm_stats_t) / 8)); /* one per field */
    mdsm_stats_t st = {0};
    for (int i = 0; i < nev; i++) {
        const char *name = NULL, *doc = NULL;
        long long v;
        int ns;
        MT_ASSERT_OK(mdsm_papi_event(i, &name, &doc));
        MT_EXPECT(doc != NULL && strlen(doc) > 10);
        if (stat_value(&st, name + strlen("sde:::mdsm::"), &v, &ns) != 0)
            mt_fail(__FILE__, __LINE__, "event %s has no mdsm_stats_t field", name);
        for (int j = 0; j < i; j++) {
            const char *other = NULL;
            MT_EXPECT_OK(mdsm_papi_event(j, &other, NULL));
            MT_EXPECT(strcmp(name, other) != 0);
        }
    }
    MT_EXPECT_RC(mdsm_papi_event(-1, NULL, NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_event(nev, NULL, NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT(strstr(mdsm_last_error_message(), "out of range") != NULL);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    MT_ASSERT(f != NULL);
    MT_EXPECT_OK(mdsm_info_print(f));
    fclose(f);
    char want[64];
    snprintf(want, sizeof(want), "papi sde: %d of %d events registered", nev, nev);
    if (!strstr(text, want))
        mt_fail(__FILE__, __LINE__, "mdsm_info_print lacks '%s':\n%s", want, text);
    free(text);
}

/* ---- Regions ------------------------------------------------------------- */

static const char *region_events[] = {"sde:::mdsm::READ_FAULTS", "perf::PERF_COUNT_SW_PAGE_FAULTS",
                                      "sde:::mdsm::BARRIERS", "sde:::mdsm::BYTES_FETCHED"};

enum { PRIVATE_PAGES = 64 };

/* Touches PRIVATE_PAGES fresh private pages: as many page faults at least.
 * Mapped here, not malloc'ed: glibc raises its mmap threshold once a large
 * block is freed, and then serves the next one from heap pages already
 * touched (CI's MPICH run counted 19 faults for the 64 pages). */
static void touch_private_pages(void)
{
    size_t bytes = PRIVATE_PAGES * 4096;
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        mt_fail(__FILE__, __LINE__, "mmap of %zu bytes failed", bytes);
        return;
    }
    madvise(m, bytes, MADV_NOHUGEPAGE); /* one fault per page */
    volatile char *p = m;
    for (size_t i = 0; i < bytes; i += 4096)
        p[i] = 1;
    munmap(m, bytes);
}

/* Reads the remote pages among [from, to); returns how many are fetched (not
 * used in place). Needs dc_node_map_init. */
/* Reads the remote pages of [from, to), last first: misses in address order
 * would prefetch, and each page here is to be one read fault. */
static long long read_remote(volatile unsigned char *a, size_t from, size_t to, long ps)
{
    long long n = 0;
    for (size_t p = to; p-- > from;) {
        int home = mdsm_home_of((const void *)(a + p * ps));
        if (home == mdsm_rank())
            continue;
        n += !dc_shares_home(home);
        if (a[p * ps] != pattern(p, 0, 0))
            mt_fail(__FILE__, __LINE__, "page %zu reads %d, its home wrote %d", p, a[p * ps],
                    pattern(p, 0, 0));
    }
    return n;
}

MT_MDSM_TEST(papi, region_counts_mdsm_and_perf_events_together)
{
    int n = mdsm_nranks();
    long ps = mdsm_page_size();
    size_t pages = 8 * (size_t)n;
    SKIP_WITHOUT_PERF_EVENTS();
    MT_ASSERT_OK(dc_node_map_init());
    volatile unsigned char *a = alloc_filled(pages, ps);
    MT_ASSERT(a != NULL);
    MT_ASSERT_OK(mdsm_barrier());

    mdsm_papi_region_t *r = NULL;
    MT_ASSERT_OK(mdsm_papi_region_create(&r, region_events, 4));
    MT_EXPECT_EQ(mdsm_papi_region_num_events(r), 4);
    MT_EXPECT_EQ(mdsm_papi_region_num_eventsets(r), 2); /* sde and perf_event */
    long long v[4];

    /* Two intervals: the totals add up, and a read while running includes the running one. */
    MT_EXPECT_OK(mdsm_papi_region_start(r));
    long long first = read_remote(a, 0, pages / 2, ps);
    touch_private_pages();
    for (int b = 0; b < 3; b++)
        MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_papi_region_stop(r));
    MT_EXPECT_OK(mdsm_papi_region_read(r, v, 4));
    MT_EXPECT_EQ(v[0], first);
    MT_EXPECT_GE(v[1], first + PRIVATE_PAGES);
    MT_EXPECT_EQ(v[2], 3);
    MT_EXPECT_EQ(v[3], first * ps);

    read_remote(a, 0, pages, ps); /* outside the region: not counted */
    MT_EXPECT_OK(mdsm_barrier());

    MT_EXPECT_OK(mdsm_papi_region_start(r));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_papi_region_read(r, v, 4));
    MT_EXPECT_EQ(v[0], first);
    MT_EXPECT_EQ(v[2], 4);
    MT_EXPECT_OK(mdsm_papi_region_stop(r));
    MT_EXPECT_OK(mdsm_papi_region_read(r, v, 4));
    MT_EXPECT_EQ(v[2], 4);

    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    MT_ASSERT(f != NULL);
    MT_EXPECT_OK(mdsm_papi_region_print(r, f));
    fclose(f);
    char want[128];
    snprintf(want, sizeof(want), "sde:::mdsm::BARRIERS %*s4\n", 36 - 20, "");
    if (!strstr(text, want) || !strstr(text, "perf::PERF_COUNT_SW_PAGE_FAULTS"))
        mt_fail(__FILE__, __LINE__, "mdsm_papi_region_print wrote:\n%s", text);
    free(text);

    MT_EXPECT_OK(mdsm_papi_region_reset(r));
    MT_EXPECT_OK(mdsm_papi_region_read(r, v, 4));
    MT_EXPECT_EQ(v[0] + v[1] + v[2] + v[3], 0);
    MT_EXPECT_OK(mdsm_papi_region_destroy(r));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)a));
}

static void expect_message(const char *needle)
{
    if (!strstr(mdsm_last_error_message(), needle))
        mt_fail(__FILE__, __LINE__, "last error message '%s' lacks '%s'", mdsm_last_error_message(),
                needle);
}

MT_MDSM_TEST(papi, region_rejects_bad_input_with_specific_codes)
{
    mdsm_papi_region_t *r = NULL;
    const char *one[] = {"sde:::mdsm::BARRIERS"};
    MT_EXPECT_RC(mdsm_papi_region_create(NULL, one, 1), MDSM_ERR_INVALID_ARG);
    expect_message("region is NULL");
    MT_EXPECT_RC(mdsm_papi_region_create(&r, NULL, 1), MDSM_ERR_INVALID_ARG);
    expect_message("events is NULL");
    MT_EXPECT_RC(mdsm_papi_region_create(&r, one, 0), MDSM_ERR_INVALID_ARG);
    expect_message("nevents is 0");
    const char *with_null[] = {"sde:::mdsm::BARRIERS", NULL};
    MT_EXPECT_RC(mdsm_papi_region_create(&r, with_null, 2), MDSM_ERR_INVALID_ARG);
    expect_message("events[1] is NULL");
    const char *twice[] = {"sde:::mdsm::BARRIERS", "sde:::mdsm::DIFFS", "sde:::mdsm::BARRIERS"};
    MT_EXPECT_RC(mdsm_papi_region_create(&r, twice, 3), MDSM_ERR_INVALID_ARG);
    expect_message("given twice (events[0] and events[2])");
    const char *misspelt[] = {"sde:::mdsm::READ_FAULT"};
    MT_EXPECT_RC(mdsm_papi_region_create(&r, misspelt, 1), MDSM_ERR_EVENT);
    expect_message("unknown mdsm event 'sde:::mdsm::READ_FAULT'");
    expect_message("READ_FAULTS, WRITE_FAULTS");
    const char *unknown[] = {"sde:::mdsm::BARRIERS", "perf::NO_SUCH_EVENT_ANYWHERE"};
    MT_EXPECT_RC(mdsm_papi_region_create(&r, unknown, 2), MDSM_ERR_EVENT);
    expect_message("'perf::NO_SUCH_EVENT_ANYWHERE'");
    MT_EXPECT(r == NULL); /* untouched on failure */

    /* Call order; c, of another component, only where perf_event exists. */
    char why[PAPI_HUGE_STR_LEN + 32];
    int no_perf = perf_component_missing(why, sizeof(why));
    mdsm_papi_region_t *a = NULL, *b = NULL, *c = NULL;
    const char *perf_only[] = {"perf::PERF_COUNT_SW_PAGE_FAULTS"};
    MT_ASSERT_OK(mdsm_papi_region_create(&a, one, 1));
    MT_ASSERT_OK(mdsm_papi_region_create(&b, one, 1));
    if (!no_perf)
        MT_ASSERT_OK(mdsm_papi_region_create(&c, perf_only, 1));
    MT_EXPECT_RC(mdsm_papi_region_stop(a), MDSM_ERR_CALL_ORDER);
    expect_message("not running");
    MT_EXPECT_OK(mdsm_papi_region_start(a));
    MT_EXPECT_RC(mdsm_papi_region_start(a), MDSM_ERR_CALL_ORDER);
    expect_message("already running");
    MT_EXPECT_RC(mdsm_papi_region_start(b), MDSM_ERR_CALL_ORDER); /* same component as a */
    expect_message("component 'sde'");
    if (c)
        MT_EXPECT_OK(mdsm_papi_region_start(c)); /* another component runs beside a */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_papi_region_stop(a));
    MT_EXPECT_OK(mdsm_papi_region_start(b)); /* now it may */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_papi_region_stop(b));
    if (c)
        MT_EXPECT_OK(mdsm_papi_region_stop(c));
    long long va = -1, vb = -1, two[2];
    MT_EXPECT_OK(mdsm_papi_region_read(a, &va, 1));
    MT_EXPECT_OK(mdsm_papi_region_read(b, &vb, 1));
    MT_EXPECT_EQ(va, 1);
    MT_EXPECT_EQ(vb, 1);

    MT_EXPECT_RC(mdsm_papi_region_read(a, two, 2), MDSM_ERR_INVALID_ARG);
    expect_message("nvalues is 2 but the region counts 1 events");
    MT_EXPECT_RC(mdsm_papi_region_read(a, NULL, 1), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_read(NULL, two, 1), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_start(NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_stop(NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_reset(NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_print(a, NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_num_events(NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_num_eventsets(NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_papi_region_destroy(NULL), MDSM_ERR_INVALID_ARG);

    MT_EXPECT_OK(mdsm_papi_region_start(a)); /* destroy stops a running region */
    MT_EXPECT_OK(mdsm_papi_region_destroy(a));
    MT_EXPECT_OK(mdsm_papi_region_start(b)); /* so the sde component is free again */
    MT_EXPECT_OK(mdsm_papi_region_destroy(b));
    if (c)
        MT_EXPECT_OK(mdsm_papi_region_destroy(c));
}

/* Hardware counters: counted where the machine has them, skipped otherwise
 * (these VMs have none). Every rank takes the same path. */
MT_MDSM_TEST(papi, region_with_hardware_counter_or_skip)
{
    const char *events[] = {"PAPI_TOT_INS", "sde:::mdsm::BARRIERS"};
    mdsm_papi_region_t *r = NULL;
    SKIP_WITHOUT_PERF_EVENTS(); /* hardware counters come through the same component */
    int rc = mdsm_papi_region_create(&r, events, 2);
    char why[512];
    snprintf(why, sizeof(why), "%s", mdsm_last_error_message());
    int absent = rc == MDSM_ERR_EVENT, any_absent = 0;
    MT_EXPECT(rc == MDSM_OK || absent);
    MPI_Allreduce(&absent, &any_absent, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any_absent) {
        if (r)
            mdsm_papi_region_destroy(r);
        MT_SKIP("hardware counter PAPI_TOT_INS is not available on %s: %s",
                absent ? "this rank" : "another rank", absent ? why : "see that rank");
    }
    MT_ASSERT(rc == MDSM_OK);
    long long v[2];
    MT_EXPECT_OK(mdsm_papi_region_start(r));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_papi_region_stop(r));
    MT_EXPECT_OK(mdsm_papi_region_read(r, v, 2));
    MT_EXPECT_GE(v[0], 1000); /* a barrier runs thousands of instructions */
    MT_EXPECT_EQ(v[1], 1);
    MT_EXPECT_OK(mdsm_papi_region_destroy(r));
}
