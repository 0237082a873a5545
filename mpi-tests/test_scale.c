/*
 * Scale (issue 12): what keeps per-rank costs from growing with the rank
 * count. Small allocations spread over the ranks instead of piling onto the
 * first ones, and large ones keep rank r's share the r-th.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dsm_check.h"
#include "mt.h"

static int64_t slot_value(int alloc, int rank)
{
    return (int64_t)alloc * 1000 + rank + 1;
}

MT_MDSM_TEST(scale, small_allocations_spread_over_the_ranks)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size();
    /* n one-page allocations land on n consecutive ranks: every rank homes one. */
    volatile int64_t **one = calloc((size_t)n, sizeof(*one));
    MT_ASSERT(one != NULL);
    for (int k = 0; k < n; k++) {
        one[k] = mdsm_alloc(ps);
        MT_ASSERT(one[k] != NULL);
    }
    int first = mdsm_home_of((const void *)one[0]);
    MT_ASSERT(first >= 0 && first < n);
    for (int k = 0; k < n; k++)
        if (mdsm_home_of((const void *)one[k]) != (first + k) % n)
            mt_fail(__FILE__, __LINE__,
                    "one-page allocation %d of %d is homed on rank %d; expected rank %d (the "
                    "first on rank %d, each next one on the next rank)",
                    k, n, mdsm_home_of((const void *)one[k]), (first + k) % n, first);
    /* A smaller-than-n allocation of 2 pages goes on from there. */
    volatile char *two = n > 2 ? mdsm_alloc(2 * ps) : NULL;
    if (n > 2) {
        MT_ASSERT(two != NULL);
        MT_EXPECT_EQ(mdsm_home_of((const void *)two), first);
        MT_EXPECT_EQ(mdsm_home_of((const void *)(two + ps)), (first + 1) % n);
    }
    /* n pages or more: block from rank 0, page i on rank i. */
    volatile char *big = mdsm_alloc((size_t)n * ps);
    MT_ASSERT(big != NULL);
    for (int i = 0; i < n; i++)
        MT_EXPECT_EQ(mdsm_home_of((const void *)(big + (size_t)i * ps)), i);

    /* The data is right wherever it lives. */
    for (int k = 0; k < n; k++)
        one[k][me] = slot_value(k, me);
    MT_EXPECT_OK(mdsm_barrier());
    struct dc_tally tally = {0};
    for (int k = 0; k < n; k++)
        for (int r = 0; r < n; r++)
            if (one[k][r] != slot_value(k, r))
                DC_MISMATCH(&tally,
                            "allocation %d (home rank %d) slot %d reads %lld, expected %lld", k,
                            mdsm_home_of((const void *)one[k]), r, (long long)one[k][r],
                            (long long)slot_value(k, r));
    DC_TALLY_END(&tally, "one-page allocations");
    MT_EXPECT_OK(mdsm_barrier());
    for (int k = 0; k < n; k++)
        MT_EXPECT_OK(mdsm_free((void *)one[k]));
    if (two)
        MT_EXPECT_OK(mdsm_free((void *)two));
    MT_EXPECT_OK(mdsm_free((void *)big));
    free(one);
}
