/* Write notices under pressure: a writer that logs more notices than its ring
 * holds before publishing any must still make its earlier release visible.
 * Not run across hosts: it takes 66,000 atomics. */
#include <stdint.h>

#include "dsm_check.h"
#include "mt.h"

enum { LAP_NOTICES = 66000 }; /* more than the ring's 65536 slots */

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
    int64_t f = 0;
    double deadline = dc_now() + DC_WAIT_LIMIT_S;
    if (n > 1 && me == writer) {
        *x = 42;
        MT_EXPECT_OK(mdsm_release());
        for (int i = 0; i < LAP_NOTICES; i++)
            if (mdsm_fetch_add(counter, 1, NULL) != MDSM_OK) {
                mt_fail(__FILE__, __LINE__, "mdsm_fetch_add failed at %d", i);
                break;
            }
        MT_EXPECT_OK(mdsm_fetch_add(flag, 1, NULL));
        while (f != 2 && dc_now() < deadline) /* rank 0 has checked */
            MT_EXPECT_OK(mdsm_fetch_add(flag, 0, &f));
        MT_EXPECT_EQ(f, 2);
    } else if (n > 1 && me == 0) {
        while (f == 0 && dc_now() < deadline)
            MT_EXPECT_OK(mdsm_fetch_add(flag, 0, &f));
        MT_EXPECT_EQ(f, 1);
        MT_EXPECT_OK(mdsm_acquire());
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
