/*
 * Cache pressure: a 64K cache of remote pages against a 512K working set that
 * is mostly homed on other ranks. Each rank rewrites the pages homed on its
 * right-hand neighbour (so its writes are all remote when nranks > 1), reads
 * them back before the barrier (its own writes, some of which must have been
 * evicted and written back), then after the barrier every rank checks every
 * slot and sums everything again. The statistics must show evictions and
 * agree with what the program did.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

enum { CACHE_BYTES = 64 * 1024, WORKING_SET = 512 * 1024, C_ROUNDS = 3, SUM_PASSES = 2 };

/* Differs from the previous round's value in at least one byte (the top ones). */
static uint64_t c_value(int round, size_t i)
{
    return ((uint64_t)(round + 1) << 48) ^ ((uint64_t)i * 0x9e3779b1u);
}

#define STAT_FMT                                                                                   \
    "read_faults %llu, write_faults %llu, pages_fetched %llu, bytes_fetched %llu, diffs %llu, "    \
    "diff_bytes %llu, invalidations %llu, evictions %llu"
#define STAT_ARGS(s)                                                                               \
    (unsigned long long)(s).read_faults, (unsigned long long)(s).write_faults,                     \
        (unsigned long long)(s).pages_fetched, (unsigned long long)(s).bytes_fetched,              \
        (unsigned long long)(s).diffs, (unsigned long long)(s).diff_bytes,                         \
        (unsigned long long)(s).invalidations, (unsigned long long)(s).evictions

static void stat_check(int ok, const mdsm_stats_t *s, const char *what, int line)
{
    if (!ok)
        mt_fail(__FILE__, line, "statistics: expected %s; saw " STAT_FMT, what, STAT_ARGS(*s));
}
#define STAT_EXPECT(cond, s) stat_check((cond), &(s), #cond, __LINE__)

MT_TEST(cache, small_cache_large_remote_working_set)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.cache_size = CACHE_BYTES;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    size_t npages = WORKING_SET / (size_t)ps, spp = (size_t)ps / sizeof(uint64_t);
    size_t nslots = npages * spp;
    volatile uint64_t *a = mdsm_alloc(WORKING_SET);
    uint64_t *sums = calloc(C_ROUNDS, sizeof(uint64_t));
    int *home = calloc(npages, sizeof(int));
    if (!a || !sums || !home) {
        MT_EXPECT(a != NULL && sums != NULL && home != NULL);
        goto out_finalize;
    }

    /* Who homes what: the pages homed on rank (me+1) % n are this rank's to
     * write. Pages homed on ranks it shares home memory with are used in
     * place: only the others are cached. */
    MT_ASSERT_OK(dc_node_map_init());
    uint64_t remote = 0, mine_pages = 0, mine_slots = 0;
    int writes_to = (me + 1) % n, mine_remote = !dc_shares_home(writes_to);
    for (size_t p = 0; p < npages; p++) {
        home[p] = mdsm_home_of((const void *)(a + p * spp));
        MT_EXPECT(home[p] >= 0 && home[p] < n);
        remote += !dc_shares_home(home[p]);
        if (home[p] == writes_to) {
            mine_pages++;
            mine_slots += spp;
        }
    }
    MT_EXPECT_GE(mine_pages, 1);
    uint64_t cache_pages = CACHE_BYTES / (uint64_t)ps;
    if (remote > 0) /* the premise: more remote data than the cache holds, even for my own writes */
        MT_EXPECT_LT(cache_pages, remote);
    for (int k = 0; k < C_ROUNDS; k++)
        for (size_t i = 0; i < nslots; i++)
            sums[k] += c_value(k, i);

    MT_EXPECT_OK(mdsm_stats_reset());
    struct dc_tally tally = {0};
    int sum_bad = 0;
    for (int k = 0; k < C_ROUNDS; k++) {
        for (size_t p = 0; p < npages; p++)
            if (home[p] == writes_to)
                for (size_t i = p * spp; i < (p + 1) * spp; i++)
                    a[i] = c_value(k, i);
        for (size_t p = 0; p < npages; p++) /* my own writes, evicted or not */
            if (home[p] == writes_to)
                for (size_t i = p * spp; i < (p + 1) * spp; i++)
                    if (a[i] != c_value(k, i))
                        DC_MISMATCH(&tally,
                                    "round %d: before the barrier this rank's own write to slot "
                                    "%zu (page %zu, home rank %d) reads back %#llx, expected %#llx",
                                    k, i, p, home[p], (unsigned long long)a[i],
                                    (unsigned long long)c_value(k, i));
        MT_EXPECT_OK(mdsm_barrier());
        for (size_t i = 0; i < nslots; i++) {
            uint64_t v = a[i];
            if (v != c_value(k, i))
                DC_MISMATCH(&tally,
                            "round %d: after the barrier slot %zu (page %zu, home rank %d, "
                            "written by rank %d) holds %#llx, expected %#llx",
                            k, i, i / spp, home[i / spp], (home[i / spp] + n - 1) % n,
                            (unsigned long long)v, (unsigned long long)c_value(k, i));
        }
        for (int pass = 1; pass < SUM_PASSES; pass++) {
            uint64_t s = 0;
            for (size_t i = 0; i < nslots; i++)
                s += a[i];
            if (s != sums[k] && sum_bad++ < DC_REPORT_FIRST)
                mt_fail(__FILE__, __LINE__,
                        "round %d, sum pass %d: the working set sums to %#llx, expected %#llx", k,
                        pass, (unsigned long long)s, (unsigned long long)sums[k]);
        }
        MT_EXPECT_OK(mdsm_barrier());
    }
    DC_TALLY_END(&tally, "cache pressure");

    mdsm_stats_t st;
    MT_EXPECT_OK(mdsm_stats_get(&st));
    MT_EXPECT_EQ(st.barriers, 2 * C_ROUNDS);
    if (remote == 0) { /* alone, or every home used in place */
        STAT_EXPECT(st.pages_fetched == 0 && st.bytes_fetched == 0, st);
        STAT_EXPECT(st.read_faults == 0 && st.diffs == 0, st);
        STAT_EXPECT(st.evictions == 0 && st.invalidations == 0, st);
        /* written in place: noticed once per page and round unless untracked */
        STAT_EXPECT(dc_writes_untracked() ? st.write_faults == 0 : st.write_faults >= C_ROUNDS, st);
        STAT_EXPECT(st.node_write_faults == st.write_faults, st);
    } else {
        /* At most cache_pages remote pages are resident at the start of a pass
         * over the working set, so each pass faults on and fetches the rest,
         * and the cache can only hold them by evicting. */
        uint64_t passes = (uint64_t)C_ROUNDS * SUM_PASSES;
        uint64_t floor_per_pass = remote - cache_pages;
        STAT_EXPECT(st.evictions > 0, st);
        STAT_EXPECT(st.evictions >= floor_per_pass, st);
        STAT_EXPECT(st.read_faults + st.pages_prefetched >= passes * floor_per_pass, st);
        STAT_EXPECT(st.pages_fetched >= passes * floor_per_pass, st);
        /* Each fetch serves a fault (pages prefetched with a read miss aside),
         * and fills a free cache slot, one freed by an eviction, or one whose
         * copy was invalidated. */
        STAT_EXPECT(st.pages_prefetched <= st.pages_fetched, st);
        STAT_EXPECT(st.pages_fetched - st.pages_prefetched <= st.read_faults + st.write_faults, st);
        STAT_EXPECT(st.pages_fetched <= cache_pages + st.evictions + st.invalidations, st);
        STAT_EXPECT(st.bytes_fetched >= st.pages_fetched, st);
        STAT_EXPECT(st.bytes_fetched <= st.pages_fetched * (uint64_t)ps, st);
        /* Every round writes each of my pages once and changes at least one
         * byte of every slot: as diffs when they are remote. */
        if (mine_remote) {
            STAT_EXPECT(st.write_faults >= C_ROUNDS * mine_pages, st);
            STAT_EXPECT(st.diffs >= C_ROUNDS * mine_pages, st);
            STAT_EXPECT(st.diff_bytes >= C_ROUNDS * mine_slots, st);
        } else {
            STAT_EXPECT(st.diffs == 0, st);
        }
        STAT_EXPECT(st.diff_bytes <= st.diffs * (uint64_t)ps, st);
    }
    MT_EXPECT_OK(mdsm_free((void *)a));
out_finalize:
    free(sums);
    free(home);
    MT_EXPECT_OK(mdsm_finalize());
}
