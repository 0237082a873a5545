/* Write notices under pressure: a writer that logs more notices than its ring
 * holds before publishing any must still make its earlier release visible.
 * Not run across hosts: it takes 66,000 atomics. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsm_check.h"
#include "mt.h"

enum { LAP_NOTICES = 66000 }; /* more than the ring's 65536 slots */

/* How many pages this rank fetched while reading *p. */
static uint64_t fetches_reading(volatile const uint64_t *p, uint64_t *value)
{
    mdsm_stats_t a, b;
    if (mdsm_stats_get(&a) != MDSM_OK)
        return UINT64_MAX;
    *value = *p;
    if (mdsm_stats_get(&b) != MDSM_OK)
        return UINT64_MAX;
    return b.pages_fetched - a.pages_fetched;
}

/* Laps the writer's ring: LAP_NOTICES value-changing atomics on counter. */
static void lap_ring(int64_t *counter)
{
    for (int i = 0; i < LAP_NOTICES; i++)
        if (mdsm_fetch_add(counter, 1, NULL) != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "mdsm_fetch_add failed at %d", i);
            return;
        }
}

/* The writer's side: X = value, released, then the ring lapped and the flag
 * raised; returns once the reader raised it again (it has checked). */
static void write_lap_and_wait(volatile uint64_t *x, uint64_t value, int64_t *counter,
                               int64_t *flag)
{
    *x = value;
    MT_EXPECT_OK(mdsm_release());
    lap_ring(counter);
    MT_EXPECT_OK(mdsm_fetch_add(flag, 1, NULL));
    MT_EXPECT_EQ(dc_wait_flag(flag, 2), 2);
}

/* The reader's side: waits for the writer's flag, then acquires. */
static void wait_and_acquire(int64_t *flag)
{
    MT_EXPECT_EQ(dc_wait_flag(flag, 1), 1);
    MT_EXPECT_OK(mdsm_acquire());
}

/* The last rank writes X (homed on itself, cached by rank 0) and releases,
 * then changes a counter LAP_NOTICES times, each logging an unpublished
 * notice that overwrites a ring slot, and raises a flag. It publishes nothing
 * more until rank 0 has checked: rank 0's acquire must notice that the slot
 * naming X was overwritten and still see X = 42. */
MT_MDSM_TEST(notices, release_visible_after_writer_laps_its_ring)
{
    int n = mdsm_nranks(), me = mdsm_rank(), writer = n - 1;
    long ps = mdsm_page_size();
    char *base = mdsm_alloc((size_t)(2 * n + 2) * (size_t)ps);
    MT_ASSERT(base != NULL);
    int64_t *flag = (int64_t *)base, *counter = (int64_t *)(base + ps);
    volatile uint64_t *x = NULL;
    for (int p = 2 * n + 1; p >= 2; p--)
        if (mdsm_home_of(base + (size_t)p * (size_t)ps) == writer)
            x = (volatile uint64_t *)(base + (size_t)p * (size_t)ps);
    MT_ASSERT(x != NULL);
    MT_EXPECT_EQ(*x, 0); /* rank 0 caches X */
    MT_EXPECT_OK(mdsm_barrier());
    if (n > 1 && me == writer) {
        write_lap_and_wait(x, 42, counter, flag);
    } else if (n > 1 && me == 0) {
        wait_and_acquire(flag);
        if (*x != 42)
            mt_fail(__FILE__, __LINE__,
                    "after acquire X (home rank %d) reads %llu, expected 42 released by rank %d "
                    "before it logged %d more notices",
                    dc_home(x), (unsigned long long)*x, writer, LAP_NOTICES);
        MT_EXPECT_OK(mdsm_fetch_add(flag, 1, NULL));
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* Bytes in each of the 4096 regions of the space in force (the library's
 * rule: a power of two of pages), from MDSM_SPACE_SIZE; 0 if unreadable. */
static size_t region_bytes(long ps)
{
    unsigned long long npages = dc_space_bytes() / (unsigned long long)ps, shift = 0;
    if (npages == 0)
        return 0;
    while ((npages - 1) >> shift >= 4096)
        shift++;
    return (size_t)ps << shift;
}

/* A writer that laps its ring costs its readers only their copies in the
 * regions of the space it wrote (the pages near its counter), at an acquire
 * and at a barrier alike. Rank 0 caches Y, which nobody writes, two regions
 * or more from everything the writer writes (a region is 256 KiB of the
 * default 1 GiB space), so Y must stay cached (where rank 0 fetched it: with
 * node sharing it reads Y in place). Before the regions, a lapped writer made
 * every reader drop its whole cache, Y included. */
MT_MDSM_TEST(notices, ring_overflow_invalidates_only_the_regions_written)
{
    int n = mdsm_nranks(), me = mdsm_rank(), writer = n - 1;
    long ps = mdsm_page_size();
    size_t region = region_bytes(ps);
    MT_ASSERT(region > 0);
    size_t small = (size_t)(2 * n + 2) * (size_t)ps, far_bytes = 8 * region;
    char *base = mdsm_alloc(small), *far = mdsm_alloc(far_bytes);
    MT_ASSERT(base != NULL && far != NULL);
    int64_t *flag = (int64_t *)base, *counter = (int64_t *)(base + ps);
    volatile uint64_t *x = NULL, *y = NULL;
    for (int p = 2 * n + 1; p >= 2; p--)
        if (mdsm_home_of(base + (size_t)p * (size_t)ps) == writer)
            x = (volatile uint64_t *)(base + (size_t)p * (size_t)ps);
    for (size_t off = 0; off < far_bytes && y == NULL; off += (size_t)ps) {
        char *q = far + off;
        size_t gap = q > base ? (size_t)(q - (base + small)) : (size_t)(base - q);
        if (gap >= 2 * region && mdsm_home_of(q) != 0)
            y = (volatile uint64_t *)q;
    }
    MT_ASSERT(x != NULL && (n == 1 || y != NULL));
    uint64_t v = 1, fetched = 0;
    if (me == 0 && n > 1) {
        MT_EXPECT_EQ(*x, 0);
        fetched = fetches_reading(y, &v); /* both cached now, or read in place */
        MT_EXPECT_EQ(v, 0);
        MT_EXPECT_EQ(fetches_reading(y, &v), 0);
    }
    /* Y's home notices Y once, at a release after it sees that rank 0
     * fetched it (it may have written Y since): rank 0 reads Y again after
     * each of the barriers that may publish that notice. */
    for (int i = 0; i < 3; i++) {
        MT_EXPECT_OK(mdsm_barrier());
        if (me == 0 && n > 1)
            fetched += fetches_reading(y, &v);
    }
    if (n > 1 && me == writer) {
        write_lap_and_wait(x, 42, counter, flag);
    } else if (n > 1 && me == 0) {
        wait_and_acquire(flag);
        MT_EXPECT_EQ(*x, 42); /* its region was invalidated */
        MT_EXPECT_EQ(fetches_reading(y, &v), 0);
        MT_EXPECT_OK(mdsm_fetch_add(flag, 1, NULL));
    }
    /* The barrier's turn: the writer laps again and every rank catches up. */
    MT_EXPECT_OK(mdsm_barrier());
    if (n > 1 && me == writer) {
        *x = 43;
        lap_ring(counter);
    }
    MT_EXPECT_OK(mdsm_barrier());
    if (n > 1 && me == 0) {
        MT_EXPECT_EQ(*x, 43);
        MT_EXPECT_EQ(fetches_reading(y, &v), 0);
        MT_EXPECT_EQ(v, 0);
        const char *sharing = getenv("MDSM_NODE_SHARING");
        if (fetched == 0 && sharing && !strcmp(sharing, "off"))
            mt_fail(__FILE__, __LINE__, "rank 0 never fetched Y: the check above shows nothing");
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(far));
    MT_EXPECT_OK(mdsm_free(base));
}
