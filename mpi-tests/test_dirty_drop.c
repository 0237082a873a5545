/*
 * Dirty copies dropped before their diff completes: an invalidation (a lock's
 * notices, an atomic on the page) or an eviction drops a page this rank wrote
 * in the open interval. Its changes go home first, and over TCP the transport
 * reads a put's source only when the put is progressed or flushed: the page
 * must stay mapped and unchanged until then. Every byte written by either
 * side must be there afterwards, on every rank.
 *
 * Rank 0 writes into pages homed on rank 1, one byte in PD_STRIDE; rank 1
 * writes other bytes of the same pages under lock 0. Other ranks only check.
 */
#include <stdint.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

enum { PD_PAGES = 64, PD_STRIDE = 16 };

static uint8_t pd_value(int writer, size_t i)
{
    return (uint8_t)(1 + ((unsigned)writer * 101u + (unsigned)(i / PD_STRIDE) * 7u) % 254u);
}

/* PD_PAGES pages homed on rank 1 (block distribution: rank r homes share r). */
static volatile uint8_t *pages_on_rank1(size_t *bytes)
{
    int n = mdsm_nranks();
    long ps = mdsm_page_size();
    volatile uint8_t *all = mdsm_alloc((size_t)n * PD_PAGES * (size_t)ps);
    if (!all)
        return NULL;
    *bytes = (size_t)PD_PAGES * (size_t)ps;
    return all + (n > 1 ? *bytes : 0);
}

static void check_bytes(volatile uint8_t *buf, size_t bytes, int rank1_wrote, const char *what)
{
    struct dc_tally tally = {0};
    for (size_t i = 0; i < bytes; i++) {
        uint8_t want = 0;
        if (i % PD_STRIDE == 0)
            want = pd_value(0, i);
        else if (i % PD_STRIDE == 1 && rank1_wrote)
            want = pd_value(1, i);
        if (buf[i] != want)
            DC_MISMATCH(&tally, "%s: byte %zu (page %zu, home rank %d) is %#x, expected %#x", what,
                        i, i / (size_t)mdsm_page_size(), dc_home(&buf[i]), buf[i], want);
    }
    DC_TALLY_END(&tally, what);
}

/* The reproduction: rank 0's dirty copies are invalidated by the
 * notices lock 0 carries from rank 1, while their diffs are in flight. */
MT_MDSM_TEST(dirty_drop, lock_notices_invalidate_dirty_copies)
{
    int me = mdsm_rank();
    size_t bytes = 0;
    volatile uint8_t *buf = pages_on_rank1(&bytes);
    MT_ASSERT(buf != NULL);
    MT_ASSERT_OK(dc_node_map_init());
    if (mdsm_nranks() > 1)
        MT_EXPECT_EQ(dc_home((const void *)buf), 1);
    /* Rank 0 holds copies of rank 1's pages unless it uses them in place. */
    uint64_t copies = mdsm_nranks() > 1 && !dc_shares_home(1) ? PD_PAGES : 0;
    /* Rank 0 fetches rank 1's pages once first: rank 1 then tracks its own
     * writes to them from its next release on. Otherwise rank 0's first
     * fetches could come after rank 1's writes and need no notice. */
    if (me == 0)
        for (size_t i = 0; i < bytes; i += (size_t)mdsm_page_size())
            MT_EXPECT_EQ(buf[i], 0);
    MT_EXPECT_OK(mdsm_barrier());
    for (int round = 0; round < 3; round++) {
        if (me == 0)
            for (size_t i = 0; i < bytes; i += PD_STRIDE)
                buf[i] = pd_value(0, i);
        if (me == 1 || mdsm_nranks() == 1) {
            MT_EXPECT_OK(mdsm_lock(0));
            for (size_t i = 1; i < bytes; i += PD_STRIDE)
                buf[i] = pd_value(1, i);
            MT_EXPECT_OK(mdsm_unlock(0));
        }
        /* Outside mdsm: rank 0's pages stay dirty until it takes the lock. */
        MPI_Barrier(MPI_COMM_WORLD);
        if (me == 0) {
            mdsm_stats_t st0, st1;
            MT_EXPECT_OK(mdsm_stats_get(&st0));
            MT_EXPECT_OK(mdsm_lock(0));
            MT_EXPECT_OK(mdsm_stats_get(&st1));
            /* every dirty copy was named by a notice */
            MT_EXPECT_EQ(st1.invalidations - st0.invalidations, copies);
            check_bytes(buf, bytes, 1, "rank 0 under lock 0");
            MT_EXPECT_OK(mdsm_unlock(0));
        }
        MT_EXPECT_OK(mdsm_barrier());
        check_bytes(buf, bytes, 1, "after the barrier");
        MT_EXPECT_OK(mdsm_barrier());
        /* Start the next round from zeroed pages. */
        if (me == 1 || mdsm_nranks() == 1)
            for (size_t i = 0; i < bytes; i++)
                buf[i] = 0;
        MT_EXPECT_OK(mdsm_barrier());
    }
    MT_EXPECT_OK(mdsm_free((void *)(buf - (mdsm_nranks() > 1 ? bytes : 0))));
}

/* An atomic on a page this rank has dirty drops the copy (the atomic acts on
 * the home copy): the bytes written before it must still reach the home. */
MT_MDSM_TEST(dirty_drop, atomic_drops_dirty_copy)
{
    int me = mdsm_rank();
    size_t bytes = 0;
    volatile uint8_t *buf = pages_on_rank1(&bytes);
    MT_ASSERT(buf != NULL);
    long ps = mdsm_page_size();
    if (me == 0) {
        for (size_t i = 0; i < bytes; i += PD_STRIDE)
            buf[i] = pd_value(0, i);
        /* The last 8 bytes of each page hold a counter nobody else writes. */
        for (size_t p = 0; p < PD_PAGES; p++)
            MT_EXPECT_OK(mdsm_fetch_add((int64_t *)(buf + (p + 1) * (size_t)ps - 8), 5, NULL));
    }
    MT_EXPECT_OK(mdsm_barrier());
    struct dc_tally tally = {0};
    for (size_t i = 0; i < bytes; i++) {
        size_t in_page = i % (size_t)ps;
        uint8_t want = i % PD_STRIDE == 0 ? pd_value(0, i) : 0;
        if (in_page >= (size_t)ps - 8)
            want = in_page == (size_t)ps - 8 ? 5 : 0; /* little-endian 5 */
        if (buf[i] != want)
            DC_MISMATCH(&tally, "byte %zu (page %zu, home rank %d) is %#x, expected %#x", i,
                        i / (size_t)ps, dc_home(&buf[i]), buf[i], want);
    }
    DC_TALLY_END(&tally, "bytes around atomics");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)(buf - (mdsm_nranks() > 1 ? bytes : 0))));
}

/* A cache of 16 pages: writing 64 remote pages evicts dirty copies, whose
 * changes must reach the home before their memory is reused. */
MT_TEST(dirty_drop, evicted_dirty_copies)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.cache_size = 16 * (size_t)sysconf(_SC_PAGESIZE);
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    int me = mdsm_rank();
    size_t bytes = 0;
    volatile uint8_t *buf = pages_on_rank1(&bytes);
    MT_ASSERT(buf != NULL);
    MT_ASSERT_OK(dc_node_map_init());
    mdsm_stats_t st;
    for (int round = 0; round < 3; round++) {
        if (me == 0)
            for (size_t i = 0; i < bytes; i += PD_STRIDE)
                buf[i] = pd_value(0, i);
        MT_EXPECT_OK(mdsm_barrier());
        check_bytes(buf, bytes, 0, "after the barrier");
        MT_EXPECT_OK(mdsm_barrier());
    }
    MT_EXPECT_OK(mdsm_stats_get(&st));
    if (me == 0 && mdsm_nranks() > 1 && !dc_shares_home(1))
        MT_EXPECT_GE(st.evictions, PD_PAGES - 16);
    if (me == 0 && dc_shares_home(1)) /* written in place: nothing to cache */
        MT_EXPECT_EQ(st.evictions + st.pages_fetched + st.diffs, 0);
    MT_EXPECT_OK(mdsm_free((void *)(buf - (mdsm_nranks() > 1 ? bytes : 0))));
    MT_EXPECT_OK(mdsm_finalize());
}
