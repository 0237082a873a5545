/*
 * Visibility litmus tests, one per kind of synchronisation in the contract:
 * a write released by one rank is seen by the rank that acquires after it
 * through a lock handover, a barrier, or mdsm_release + an atomic flag +
 * mdsm_acquire. Every round writes fresh values and every rank checks every
 * value it is entitled to see.
 */
#include <sched.h>
#include <stdint.h>
#include <string.h>

#include "dsm_check.h"
#include "mt.h"

enum { ROUNDS = 200 };

/* ---- (a) lock handover ----------------------------------------------------------
 * A token under lock L says whose step it is; step t belongs to rank t % n.
 * Step t writes the slots i with i % LH_W == t % LH_W, so at any time the
 * array holds values of the last LH_W steps, made by several ranks: the holder
 * of step t must see all of them (the lock's acquire is transitive). */
enum { LH_PAGES = 3, LH_W = 5, LH_LOCK = 1 };

static uint64_t lh_value(long step, size_t i)
{
    return dc_hash3(0x11c4, (uint64_t)step, i) | 1;
}

/* Step that last wrote slot i before step t, or -1 if none did. */
static long lh_last_writer(long t, size_t i)
{
    long w = (long)(i % LH_W), s = t - 1;
    if (s < 0)
        return -1;
    s -= ((s - w) % LH_W + LH_W) % LH_W;
    return s;
}

static uint64_t lh_expected(long t, size_t i)
{
    long s = lh_last_writer(t, i);
    return s < 0 ? 0 : lh_value(s, i);
}

static void lh_check(const volatile uint64_t *data, size_t nslots, long t, const char *when,
                     int nranks)
{
    struct dc_tally tally = {0};
    for (size_t i = 0; i < nslots; i++) {
        uint64_t want = lh_expected(t, i), seen = data[i];
        if (seen != want) {
            long s = lh_last_writer(t, i);
            DC_MISMATCH(&tally,
                        "%s step %ld: slot %zu (home rank %d) holds %#llx, expected %#llx "
                        "written at step %ld by rank %ld",
                        when, t, i, dc_home(&data[i]), (unsigned long long)seen,
                        (unsigned long long)want, s, s < 0 ? -1L : s % nranks);
        }
    }
    DC_TALLY_END(&tally, when);
}

MT_MDSM_TEST(litmus, lock_handover_sees_all_previous_holders)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    char *base = mdsm_alloc((size_t)(LH_PAGES + 1) * (size_t)ps);
    MT_ASSERT(base != NULL);
    volatile int64_t *token = (volatile int64_t *)base;
    volatile uint64_t *data = (volatile uint64_t *)(base + ps);
    size_t nslots = (size_t)LH_PAGES * (size_t)ps / sizeof(uint64_t);
    long steps = (long)ROUNDS * n;

    for (long t = me; t < steps; t += n) {
        /* Wait for the token to reach step t, polling under the lock. */
        double deadline = dc_now() + DC_WAIT_LIMIT_S;
        int have = 0, rc;
        int64_t seen = -1;
        for (;;) {
            if ((rc = mdsm_lock(LH_LOCK)) != MDSM_OK) {
                mt_fail(__FILE__, __LINE__, "step %ld: mdsm_lock(%d) returned %d (%s)", t, LH_LOCK,
                        rc, mdsm_strerror(rc));
                break;
            }
            seen = *token;
            if (seen == t) {
                have = 1;
                break;
            }
            MT_EXPECT_OK(mdsm_unlock(LH_LOCK));
            if (seen > t) {
                mt_fail(__FILE__, __LINE__, "waiting for step %ld: the token is already at %lld", t,
                        (long long)seen);
                break;
            }
            if (dc_now() > deadline) {
                mt_fail(__FILE__, __LINE__,
                        "waited %.0f s for step %ld; the token stays at %lld (step of rank %lld)",
                        DC_WAIT_LIMIT_S, t, (long long)seen, (long long)(seen % n));
                break;
            }
            sched_yield();
        }
        if (!have)
            break; /* the others time out on their next step and reach the barrier */
        lh_check(data, nslots, t, "lock holder at", n);
        for (size_t i = (size_t)(t % LH_W); i < nslots; i += LH_W)
            data[i] = lh_value(t, i);
        *token = t + 1;
        MT_EXPECT_OK(mdsm_unlock(LH_LOCK));
    }

    MT_EXPECT_OK(mdsm_barrier());
    lh_check(data, nslots, steps, "after the final barrier, as if at", n);
    MT_EXPECT_EQ(*token, steps);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* ---- (b) barrier -------------------------------------------------------------------
 * Each round every rank writes fresh values into its own slots, three
 * consecutive 8-byte slots per owner, so every page has every rank as a
 * writer; after the barrier every rank checks every slot. Two buffers
 * alternate, so a rank's writes of round r+2 cannot race with a slower rank's
 * checks of round r (it cannot pass barrier r+1 before them). */
enum { BAR_PAGES = 4 };

static uint64_t bar_value(int round, size_t i)
{
    return dc_hash3(0xba55, (uint64_t)round, i);
}

MT_MDSM_TEST(litmus, barrier_publishes_every_ranks_writes)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    size_t nslots = (size_t)BAR_PAGES * (size_t)ps / sizeof(uint64_t);
    volatile uint64_t *base = mdsm_alloc(2 * nslots * sizeof(uint64_t));
    MT_ASSERT(base != NULL);

    struct dc_tally tally = {0}; /* across rounds: every rank runs every round regardless */
    for (int r = 0; r < ROUNDS; r++) {
        volatile uint64_t *buf = base + (size_t)(r % 2) * nslots;
        for (size_t i = 0; i < nslots; i++)
            if ((int)((i / 3) % (size_t)n) == me)
                buf[i] = bar_value(r, i);
        MT_EXPECT_OK(mdsm_barrier());
        for (size_t i = 0; i < nslots; i++) {
            uint64_t want = bar_value(r, i), seen = buf[i];
            if (seen != want)
                DC_MISMATCH(&tally,
                            "round %d: slot %zu of buffer %d (page %zu, home rank %d, written by "
                            "rank %d) holds %#llx after the barrier, expected %#llx",
                            r, i, r % 2, i * sizeof(uint64_t) / (size_t)ps, dc_home(&buf[i]),
                            (int)((i / 3) % (size_t)n), (unsigned long long)seen,
                            (unsigned long long)want);
        }
    }
    DC_TALLY_END(&tally, "barrier rounds");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

/* ---- (c) mdsm_release, atomic flag, mdsm_acquire --------------------------------------
 * Round r's writer (rank r % n) writes fresh data, calls mdsm_release and then
 * publishes round r+1 in an atomic flag (fetch_add in even rounds, cas in odd
 * ones). Readers poll the flag through atomics, call mdsm_acquire once they see
 * it, check every value, acknowledge in a shared page (each reader its own
 * slot), mdsm_release and count themselves in an atomic "done" counter. The
 * next writer waits for all of them, calls mdsm_acquire and must see every
 * acknowledgement before it overwrites the data. */
enum { FL_PAGES = 4 };

static uint64_t fl_value(int round, size_t i)
{
    return dc_hash3(0xf1a9, (uint64_t)round, i);
}

/* Reads an atomic through an atomic, alternating fetch_add(0) and a cas that never swaps. */
static int fl_read(int64_t *addr, int use_cas, int64_t *out)
{
    if (use_cas)
        return mdsm_cas(addr, INT64_MIN, INT64_MIN, out);
    return mdsm_fetch_add(addr, 0, out);
}

/* Polls *addr until it equals want; 0 on success, -1 (after reporting) on error or timeout. */
static int fl_wait(int64_t *addr, int64_t want, int use_cas, const char *what, int round)
{
    double deadline = dc_now() + DC_WAIT_LIMIT_S;
    int64_t v = INT64_MIN;
    for (;;) {
        int rc = fl_read(addr, use_cas, &v);
        if (rc != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "round %d: reading %s through %s returned %d (%s)", round,
                    what, use_cas ? "mdsm_cas" : "mdsm_fetch_add", rc, mdsm_strerror(rc));
            return -1;
        }
        if (v == want)
            return 0;
        if (v > want) {
            mt_fail(__FILE__, __LINE__, "round %d: %s is %lld, beyond the %lld waited for", round,
                    what, (long long)v, (long long)want);
            return -1;
        }
        if (dc_now() > deadline) {
            mt_fail(__FILE__, __LINE__,
                    "round %d: waited %.0f s for %s to reach %lld; it stays at %lld", round,
                    DC_WAIT_LIMIT_S, what, (long long)want, (long long)v);
            return -1;
        }
        sched_yield();
    }
}

MT_MDSM_TEST(litmus, release_atomic_flag_acquire)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    size_t nslots = (size_t)FL_PAGES * (size_t)ps / sizeof(uint64_t);
    /* FL_PAGES of data, then one page of acknowledgements (one slot per rank). */
    volatile uint64_t *data = mdsm_alloc((size_t)(FL_PAGES + 1) * (size_t)ps);
    int64_t *flags = mdsm_alloc(2 * (size_t)ps); /* flag in page 0, done counter in page 1 */
    MT_ASSERT(data != NULL && flags != NULL);
    volatile uint64_t *ack = data + nslots;
    int64_t *flag = flags, *done = flags + ps / (long)sizeof(int64_t);
    int broken = 0;

    for (int r = 0; r < ROUNDS && !broken; r++) {
        int writer = r % n, use_cas = r % 2;
        if (me == writer) {
            /* All readers of round r-1 are done; their acknowledgements must be visible. */
            if (fl_wait(done, (int64_t)r * (n - 1), !use_cas, "the done counter", r) != 0) {
                broken = 1;
                break;
            }
            MT_EXPECT_OK(mdsm_acquire());
            if (r > 0)
                for (int q = 0; q < n; q++)
                    if (q != (r - 1) % n && ack[q] != (uint64_t)r)
                        mt_fail(__FILE__, __LINE__,
                                "round %d: writer sees acknowledgement %llu from rank %d (slot "
                                "home rank %d) after acquire, expected %d",
                                r, (unsigned long long)ack[q], q, dc_home(&ack[q]), r);
            for (size_t i = 0; i < nslots; i++)
                data[i] = fl_value(r, i);
            MT_EXPECT_OK(mdsm_release());
            int64_t old = -1;
            int rc = use_cas ? mdsm_cas(flag, r, r + 1, &old) : mdsm_fetch_add(flag, 1, &old);
            if (rc != MDSM_OK || old != r) {
                mt_fail(__FILE__, __LINE__,
                        "round %d: publishing the flag with %s returned %d (%s), old value %lld "
                        "(expected %d)",
                        r, use_cas ? "mdsm_cas" : "mdsm_fetch_add", rc, mdsm_strerror(rc),
                        (long long)old, r);
                broken = 1;
            }
        } else {
            if (fl_wait(flag, r + 1, use_cas, "the flag", r) != 0) {
                broken = 1;
                break;
            }
            MT_EXPECT_OK(mdsm_acquire());
            struct dc_tally tally = {0};
            for (size_t i = 0; i < nslots; i++) {
                uint64_t want = fl_value(r, i), seen = data[i];
                if (seen != want)
                    DC_MISMATCH(&tally,
                                "round %d: after seeing the flag and mdsm_acquire, slot %zu (page "
                                "%zu, home rank %d) written by rank %d holds %#llx, expected %#llx",
                                r, i, i * sizeof(uint64_t) / (size_t)ps, dc_home(&data[i]), writer,
                                (unsigned long long)seen, (unsigned long long)want);
            }
            DC_TALLY_END(&tally, "release/flag/acquire round");
            ack[me] = (uint64_t)r + 1;
            MT_EXPECT_OK(mdsm_release());
            MT_EXPECT_OK(mdsm_fetch_add(done, 1, NULL));
            if (tally.bad)
                broken = 1;
        }
    }

    /* A rank that broke off leaves the others waiting until their own time limit. */
    MT_EXPECT_OK(mdsm_barrier());
    if (dc_all(!broken)) {
        int64_t v = -1;
        MT_EXPECT_OK(mdsm_fetch_add(flag, 0, &v));
        MT_EXPECT_EQ(v, ROUNDS);
        MT_EXPECT_OK(mdsm_fetch_add(done, 0, &v));
        MT_EXPECT_EQ(v, (int64_t)ROUNDS * (n - 1));
        struct dc_tally tally = {0};
        for (size_t i = 0; i < nslots; i++)
            if (data[i] != fl_value(ROUNDS - 1, i))
                DC_MISMATCH(&tally,
                            "after the final barrier slot %zu (home rank %d) holds %#llx, "
                            "expected %#llx from round %d",
                            i, dc_home(&data[i]), (unsigned long long)data[i],
                            (unsigned long long)fl_value(ROUNDS - 1, i), ROUNDS - 1);
        DC_TALLY_END(&tally, "final data");
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)data));
    MT_EXPECT_OK(mdsm_free(flags));
}

/* ---- (d) a lock re-taken by its last releaser -----------------------------------
 * Rank 0 takes and releases lock RT_LOCK twice in a row while nobody queues;
 * the second time the lock comes back to it free and its notice vector is
 * still the one at the home, so nothing is read for that acquire, but its
 * second release must leave its new vector there. The two writes go to
 * different pages: every other rank, holding stale copies of both, must see
 * both (with the first vector alone it would drop only the first page). */
enum { RT_LOCK = 2, RT_ROUNDS = 50 };

MT_MDSM_TEST(litmus, lock_retaken_by_its_releaser_hands_on_new_writes)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t words = (size_t)mdsm_page_size() / sizeof(int64_t);
    /* Block homes: rank 0 homes both pages, so the others cache them. */
    volatile int64_t *x = mdsm_alloc(2 * (size_t)n * (size_t)mdsm_page_size()), *y = x + words;
    MT_ASSERT(x != NULL);
    MT_EXPECT_EQ(dc_home(x), 0);
    MT_EXPECT_EQ(dc_home(y), 0);
    struct dc_tally tally = {0};
    for (int64_t round = 1; round <= RT_ROUNDS; round++) {
        MT_EXPECT_OK(mdsm_barrier());
        int64_t seen = x[0] + y[0]; /* every rank caches both pages */
        (void)seen;
        MPI_Barrier(MPI_COMM_WORLD);
        if (me == 0) {
            MT_EXPECT_OK(mdsm_lock(RT_LOCK));
            x[0] = 2 * round - 1;
            MT_EXPECT_OK(mdsm_unlock(RT_LOCK));
            MT_EXPECT_OK(mdsm_lock(RT_LOCK)); /* comes back free: nothing read */
            y[0] = 2 * round;
            MT_EXPECT_OK(mdsm_unlock(RT_LOCK));
        }
        /* Outside mdsm, so that only the lock carries the writes. */
        MPI_Barrier(MPI_COMM_WORLD);
        for (int r = 1; r < n; r++) {
            if (me == r) {
                MT_EXPECT_OK(mdsm_lock(RT_LOCK));
                if (x[0] != 2 * round - 1 || y[0] != 2 * round)
                    DC_MISMATCH(&tally,
                                "round %lld: rank %d reads %lld and %lld under lock %d after rank "
                                "0's two releases, expected %lld and %lld",
                                (long long)round, me, (long long)x[0], (long long)y[0], RT_LOCK,
                                (long long)(2 * round - 1), (long long)(2 * round));
                MT_EXPECT_OK(mdsm_unlock(RT_LOCK));
            }
            MPI_Barrier(MPI_COMM_WORLD);
        }
    }
    DC_TALLY_END(&tally, "re-taken lock");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)x));
}
