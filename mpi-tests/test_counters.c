/*
 * Lock-protected counters: no increment is lost or duplicated, whatever the
 * contention, and a counter never goes backwards for a rank that holds its lock.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dsm_check.h"
#include "mt.h"

/* The contract's figure, on one node and across hosts alike. */
static int increments(void)
{
    return 10000;
}

MT_MDSM_TEST(counters, one_counter_under_one_lock)
{
    int n = mdsm_nranks();
    volatile int64_t *counter = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(counter != NULL);
    int lock = n - 1; /* homed on the last rank: remote for most ranks */
    MT_EXPECT_OK(mdsm_stats_reset());
    const int per_rank = increments();
    int64_t last = 0, done = 0;
    for (int k = 0; k < per_rank; k++) {
        int rc = mdsm_lock(lock);
        if (rc != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "increment %d: mdsm_lock(%d) returned %d (%s)", k, lock, rc,
                    mdsm_strerror(rc));
            break;
        }
        int64_t v = *counter;
        if (v < last) /* others only add: what this rank left behind must still be there */
            mt_fail(__FILE__, __LINE__,
                    "increment %d: under lock %d the counter reads %lld, below the %lld this rank "
                    "left at its previous increment",
                    k, lock, (long long)v, (long long)last);
        *counter = v + 1;
        last = v + 1;
        done++;
        rc = mdsm_unlock(lock);
        if (rc != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "increment %d: mdsm_unlock(%d) returned %d (%s)", k, lock,
                    rc, mdsm_strerror(rc));
            break;
        }
    }
    mdsm_stats_t st;
    MT_EXPECT_OK(mdsm_stats_get(&st));
    MT_EXPECT_EQ(st.lock_acquires, done);
    MT_EXPECT_EQ(done, (int64_t)per_rank);
    MT_EXPECT_OK(mdsm_barrier());
    int64_t total = *counter;
    if (total != (int64_t)n * per_rank)
        mt_fail(__FILE__, __LINE__,
                "after the barrier the counter (home rank %d, lock %d) reads %lld, expected %d "
                "ranks x %d = %lld",
                dc_home(counter), lock, (long long)total, n, per_rank, (long long)n * per_rank);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)counter));
}

/* 64 counters share one page, each under its own lock; every rank visits them
 * in its own shuffled order each pass, adding rank+1, and every fourth pass
 * takes two locks at once (in ascending id order) and updates a pair. */
enum { NCOUNTERS = 64, PASSES = 40, LOCK_BASE = 16 };

static int lock_of(int c)
{
    return LOCK_BASE + c;
}

static int update(volatile int64_t *ctr, int c, int64_t add, int64_t *last, int pass)
{
    int64_t v = ctr[c];
    if (v < last[c]) {
        mt_fail(__FILE__, __LINE__,
                "pass %d: counter %d (lock %d, home rank %d) reads %lld under its lock, below the "
                "%lld this rank left there",
                pass, c, lock_of(c), dc_home(&ctr[c]), (long long)v, (long long)last[c]);
        return -1;
    }
    ctr[c] = v + add;
    last[c] = v + add;
    return 0;
}

MT_MDSM_TEST(counters, sixty_four_counters_one_page_own_locks)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    MT_ASSERT(mdsm_num_locks() >= LOCK_BASE + NCOUNTERS);
    volatile int64_t *ctr = mdsm_alloc(NCOUNTERS * sizeof(int64_t));
    MT_ASSERT(ctr != NULL);
    int64_t last[NCOUNTERS] = {0}, add = me + 1;
    int order[NCOUNTERS], failed = 0;
    uint64_t rng = 0xc0ffee00u + (uint64_t)me;

    for (int pass = 0; pass < PASSES && !failed; pass++) {
        for (int i = 0; i < NCOUNTERS; i++)
            order[i] = i;
        for (int i = NCOUNTERS - 1; i > 0; i--) { /* Fisher-Yates, seeded per rank */
            int j = (int)dc_below(&rng, (uint64_t)i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        if (pass % 4 == 3) {
            for (int i = 0; i + 1 < NCOUNTERS && !failed; i += 2) {
                int a = order[i] < order[i + 1] ? order[i] : order[i + 1];
                int b = order[i] < order[i + 1] ? order[i + 1] : order[i];
                int rc_a = mdsm_lock(lock_of(a)), rc_b = mdsm_lock(lock_of(b));
                if (rc_a != MDSM_OK || rc_b != MDSM_OK) {
                    mt_fail(__FILE__, __LINE__,
                            "pass %d: mdsm_lock(%d), mdsm_lock(%d) returned %d, %d", pass,
                            lock_of(a), lock_of(b), rc_a, rc_b);
                    failed = 1;
                    break;
                }
                failed |= update(ctr, a, add, last, pass) != 0;
                failed |= update(ctr, b, add, last, pass) != 0;
                MT_EXPECT_OK(mdsm_unlock(lock_of(b)));
                MT_EXPECT_OK(mdsm_unlock(lock_of(a)));
            }
        } else {
            for (int i = 0; i < NCOUNTERS && !failed; i++) {
                int c = order[i], rc = mdsm_lock(lock_of(c));
                if (rc != MDSM_OK) {
                    mt_fail(__FILE__, __LINE__, "pass %d: mdsm_lock(%d) returned %d (%s)", pass,
                            lock_of(c), rc, mdsm_strerror(rc));
                    failed = 1;
                    break;
                }
                failed |= update(ctr, c, add, last, pass) != 0;
                MT_EXPECT_OK(mdsm_unlock(lock_of(c)));
            }
        }
    }

    MT_EXPECT_OK(mdsm_barrier());
    int64_t want = (int64_t)PASSES * n * (n + 1) / 2;
    struct dc_tally tally = {0};
    for (int c = 0; c < NCOUNTERS; c++)
        if (ctr[c] != want)
            DC_MISMATCH(&tally,
                        "after the barrier counter %d (lock %d, home rank %d) reads %lld, expected "
                        "%d passes x (1+..+%d) = %lld",
                        c, lock_of(c), dc_home(&ctr[c]), (long long)ctr[c], PASSES, n,
                        (long long)want);
    DC_TALLY_END(&tally, "final counters");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)ctr));
}
