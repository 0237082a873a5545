/*
 * mdsm_fetch_add and mdsm_cas: exact under contention, never served from a
 * stale copy, and enough to build a lock with mdsm_acquire/mdsm_release.
 */
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsm_check.h"
#include "mt.h"

enum { FA_PER_RANK = 2000 };

/* Reads an atomic location through an atomic, so no cached copy is involved. */
static int64_t atomic_read(int64_t *addr)
{
    int64_t v = INT64_MIN;
    MT_EXPECT_OK(mdsm_fetch_add(addr, 0, &v));
    return v;
}

/* Every rank adds 1 FA_PER_RANK times: the old values returned, over all
 * ranks, are exactly 0 .. total-1, each once; the final value is the total. */
MT_MDSM_TEST(atomics, contended_fetch_add_hands_out_distinct_tickets)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    int64_t total = (int64_t)n * FA_PER_RANK;
    int64_t *counter = mdsm_alloc((size_t)ps);
    volatile int64_t *tickets = mdsm_alloc((size_t)total * sizeof(int64_t));
    MT_ASSERT(counter != NULL && tickets != NULL);
    for (int i = 0; i < FA_PER_RANK; i++) {
        int64_t old = -1;
        int rc = mdsm_fetch_add(counter, 1, &old);
        if (rc != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "add %d: mdsm_fetch_add returned %d (%s)", i, rc,
                    mdsm_strerror(rc));
            break;
        }
        tickets[(size_t)me * FA_PER_RANK + (size_t)i] = old;
    }
    MT_EXPECT_OK(mdsm_barrier());
    int64_t final = atomic_read(counter);
    if (final != total)
        mt_fail(__FILE__, __LINE__, "the counter (home rank %d) ends at %lld, expected %d x %d",
                dc_home(counter), (long long) final, n, FA_PER_RANK);
    /* Every rank checks all tickets, published by the barrier. */
    uint8_t *seen = calloc((size_t)total, 1);
    MT_ASSERT(seen != NULL);
    struct dc_tally tally = {0};
    for (int64_t t = 0; t < total; t++) {
        int64_t v = tickets[t];
        int owner = (int)(t / FA_PER_RANK);
        if (v < 0 || v >= total)
            DC_MISMATCH(&tally, "rank %d's add %lld returned old value %lld, outside 0..%lld",
                        owner, (long long)(t % FA_PER_RANK), (long long)v, (long long)total - 1);
        else if (seen[v]++)
            DC_MISMATCH(&tally, "old value %lld was returned twice (again to rank %d's add %lld)",
                        (long long)v, owner, (long long)(t % FA_PER_RANK));
        else if (t % FA_PER_RANK > 0 && v <= tickets[t - 1])
            DC_MISMATCH(
                &tally, "rank %d's add %lld returned %lld, not above its previous add's %lld",
                owner, (long long)(t % FA_PER_RANK), (long long)v, (long long)tickets[t - 1]);
    }
    DC_TALLY_END(&tally, "fetch_add tickets");
    free(seen);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(counter));
    MT_EXPECT_OK(mdsm_free((void *)tickets));
}

/* Adds of different signs and sizes from all ranks sum exactly; old may be NULL. */
MT_MDSM_TEST(atomics, fetch_add_mixed_values_sum_exactly)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    int64_t *cell = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(cell != NULL);
    uint64_t rng = 77 + (uint64_t)me;
    int64_t mine = 0;
    for (int i = 0; i < 500; i++) {
        int64_t v = (int64_t)dc_below(&rng, 2000001) - 1000000;
        if (i % 7 == 0)
            v *= 1000000; /* values beyond 32 bits */
        mine += v;
        MT_EXPECT_OK(mdsm_fetch_add(cell, v, i % 2 ? NULL : &(int64_t){0}));
    }
    int64_t want = 0;
    MPI_Allreduce(&mine, &want, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
    MT_EXPECT_OK(mdsm_barrier());
    int64_t got = atomic_read(cell);
    if (got != want)
        mt_fail(__FILE__, __LINE__, "%d ranks' mixed adds sum to %lld, expected %lld", n,
                (long long)got, (long long)want);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(cell));
}

/* mdsm_cas on a cell of this rank's own: swaps iff the value matches, and
 * *old is the value seen either way. The cells live on all ranks' homes. */
MT_MDSM_TEST(atomics, cas_success_and_failure)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    int64_t *cells = mdsm_alloc((size_t)n * (size_t)ps);
    MT_ASSERT(cells != NULL);
    /* This rank's cell sits in the page homed on its right-hand neighbour. */
    int64_t *c = NULL;
    for (int p = 0; p < n; p++) {
        int64_t *cand = cells + (size_t)p * (size_t)ps / sizeof(int64_t) + me;
        if (mdsm_home_of(cand) == (me + 1) % n)
            c = cand;
    }
    if (!c)
        c = cells + me;
    int64_t old = 12345;

    MT_EXPECT_OK(mdsm_cas(c, 0, 42, &old)); /* success: zero-filled */
    MT_EXPECT_EQ(old, 0);
    MT_EXPECT_EQ(atomic_read(c), 42);
    old = 12345;
    MT_EXPECT_OK(mdsm_cas(c, 0, 7, &old)); /* failure: returns OK, reports what it saw */
    MT_EXPECT_EQ(old, 42);
    MT_EXPECT_EQ(atomic_read(c), 42);
    MT_EXPECT_OK(mdsm_cas(c, 42, INT64_MIN, &old)); /* extreme values round-trip */
    MT_EXPECT_EQ(old, 42);
    MT_EXPECT_OK(mdsm_cas(c, INT64_MIN, INT64_MAX, &old));
    MT_EXPECT_EQ(old, INT64_MIN);
    MT_EXPECT_EQ(atomic_read(c), INT64_MAX);
    MT_EXPECT_OK(mdsm_cas(c, INT64_MAX, INT64_MAX, &old)); /* swap with itself */
    MT_EXPECT_EQ(old, INT64_MAX);
    MT_EXPECT_OK(mdsm_fetch_add(c, -INT64_MAX, &old));
    MT_EXPECT_EQ(old, INT64_MAX);
    MT_EXPECT_EQ(atomic_read(c), 0);

    /* After a barrier every rank reads every cell through atomics. */
    MT_EXPECT_OK(mdsm_cas(c, 0, 1000 + me, &old));
    MT_EXPECT_OK(mdsm_barrier());
    for (int q = 0; q < n; q++) {
        int64_t *cq = NULL;
        for (int p = 0; p < n; p++) {
            int64_t *cand = cells + (size_t)p * (size_t)ps / sizeof(int64_t) + q;
            if (mdsm_home_of(cand) == (q + 1) % n)
                cq = cand;
        }
        if (!cq)
            cq = cells + q;
        int64_t v = atomic_read(cq);
        if (v != 1000 + q)
            mt_fail(__FILE__, __LINE__, "rank %d's cell (home rank %d) reads %lld, expected %d", q,
                    dc_home(cq), (long long)v, 1000 + q);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(cells));
}

/* All ranks race to cas 0 -> rank+1 on one cell, many times over: exactly one
 * wins each race and everyone agrees who. */
MT_MDSM_TEST(atomics, contended_cas_has_one_winner)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    enum { RACES = 50 };
    int64_t *cells = mdsm_alloc(RACES * sizeof(int64_t));
    int64_t *wins = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(cells != NULL && wins != NULL);
    int my_wins[RACES] = {0};
    for (int r = 0; r < RACES; r++) {
        int64_t old = -1;
        MT_EXPECT_OK(mdsm_cas(&cells[r], 0, me + 1, &old));
        if (old == 0) {
            my_wins[r] = 1;
            MT_EXPECT_OK(mdsm_fetch_add(wins, 1, NULL));
        } else if (old < 1 || old > n) {
            mt_fail(__FILE__, __LINE__, "race %d: mdsm_cas saw %lld, neither 0 nor a rank+1", r,
                    (long long)old);
        }
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(atomic_read(wins), RACES);
    for (int r = 0; r < RACES; r++) {
        int64_t winner = atomic_read(&cells[r]);
        if (winner < 1 || winner > n)
            mt_fail(__FILE__, __LINE__, "race %d: the cell holds %lld, not a rank+1", r,
                    (long long)winner);
        else if ((winner == me + 1) != my_wins[r])
            mt_fail(__FILE__, __LINE__,
                    "race %d: the cell names rank %lld as winner but this rank's cas %s", r,
                    (long long)winner - 1, my_wins[r] ? "succeeded" : "failed");
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(cells));
    MT_EXPECT_OK(mdsm_free(wins));
}

/* Increments by cas loops (read, cas v -> v+1, retry) are exact. */
MT_MDSM_TEST(atomics, cas_loop_increments_are_exact)
{
    int n = mdsm_nranks();
    enum { PER_RANK = 300 };
    int64_t *cell = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(cell != NULL);
    long retries = 0;
    for (int i = 0; i < PER_RANK; i++) {
        int64_t v = atomic_read(cell), old;
        double deadline = dc_now() + DC_WAIT_LIMIT_S;
        for (;;) {
            int rc = mdsm_cas(cell, v, v + 1, &old);
            if (rc != MDSM_OK) {
                mt_fail(__FILE__, __LINE__, "mdsm_cas returned %d (%s)", rc, mdsm_strerror(rc));
                break;
            }
            if (old == v)
                break;
            if (old < v)
                mt_fail(__FILE__, __LINE__, "the cell went back from %lld to %lld", (long long)v,
                        (long long)old);
            if (dc_now() > deadline) {
                mt_fail(__FILE__, __LINE__, "no cas succeeded within %.0f s", DC_WAIT_LIMIT_S);
                break;
            }
            v = old;
            retries++;
        }
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(atomic_read(cell), (int64_t)n * PER_RANK);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(cell));
}

/* A spin lock on mdsm_cas: take it (cas 0 -> rank+1), mdsm_acquire, update
 * a plain shared counter (in another allocation), mdsm_release, free it
 * (cas rank+1 -> 0). No increment may be lost and the counter never goes
 * back for the holder. */
MT_MDSM_TEST(atomics, cas_spin_lock_protects_plain_data)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    enum { PER_RANK = 200 };
    int64_t *lockword = mdsm_alloc(sizeof(int64_t));
    volatile int64_t *data = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(lockword != NULL && data != NULL);
    int64_t last = 0;
    for (int i = 0; i < PER_RANK; i++) {
        int64_t old = -1;
        double deadline = dc_now() + DC_WAIT_LIMIT_S;
        int took = 0;
        for (;;) {
            int rc = mdsm_cas(lockword, 0, me + 1, &old);
            if (rc != MDSM_OK) {
                mt_fail(__FILE__, __LINE__, "taking the spin lock: mdsm_cas returned %d (%s)", rc,
                        mdsm_strerror(rc));
                break;
            }
            if (old == 0) {
                took = 1;
                break;
            }
            if (old == me + 1) {
                mt_fail(__FILE__, __LINE__, "the spin lock names this rank while it is free here");
                break;
            }
            if (dc_now() > deadline) {
                mt_fail(__FILE__, __LINE__, "spin lock held by rank %lld for over %.0f s",
                        (long long)old - 1, DC_WAIT_LIMIT_S);
                break;
            }
            sched_yield();
        }
        if (!took)
            break;
        MT_EXPECT_OK(mdsm_acquire());
        int64_t v = data[0];
        if (v < last)
            mt_fail(__FILE__, __LINE__,
                    "iteration %d: inside the spin lock the counter (home rank %d) reads %lld, "
                    "below the %lld this rank left",
                    i, dc_home(data), (long long)v, (long long)last);
        data[0] = v + 1;
        last = v + 1;
        MT_EXPECT_OK(mdsm_release());
        int rc = mdsm_cas(lockword, me + 1, 0, &old);
        if (rc != MDSM_OK || old != me + 1) {
            mt_fail(__FILE__, __LINE__,
                    "iteration %d: freeing the spin lock: mdsm_cas returned %d, saw %lld "
                    "(expected %d)",
                    i, rc, (long long)old, me + 1);
            break;
        }
    }
    MT_EXPECT_OK(mdsm_barrier());
    if (data[0] != (int64_t)n * PER_RANK)
        mt_fail(__FILE__, __LINE__,
                "after the barrier the counter guarded by the spin lock (home rank %d) reads "
                "%lld, expected %d x %d",
                dc_home(data), (long long)data[0], n, PER_RANK);
    MT_EXPECT_EQ(atomic_read(lockword), 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(lockword));
    MT_EXPECT_OK(mdsm_free((void *)data));
}

/* Atomics act on the home copy: a rank that holds a cached copy of the page
 * (it read the cell with a plain load) still gets the current value from
 * mdsm_fetch_add and mdsm_cas after other ranks changed it. */
MT_MDSM_TEST(atomics, never_served_from_a_stale_copy)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    int64_t *cell = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(cell != NULL);
    MT_EXPECT_EQ(*(volatile int64_t *)cell, 0); /* cache the page everywhere */
    MT_EXPECT_OK(mdsm_barrier());
    for (int r = 0; r < n; r++) {
        if (r == me)
            MT_EXPECT_OK(mdsm_fetch_add(cell, 10, NULL));
        MPI_Barrier(MPI_COMM_WORLD); /* orders the adds, but is no mdsm acquire */
        int64_t v = atomic_read(cell), old = -1;
        if (v != 10 * (r + 1))
            mt_fail(__FILE__, __LINE__, "after rank %d's add the cell reads %lld, expected %d", r,
                    (long long)v, 10 * (r + 1));
        MT_EXPECT_OK(mdsm_cas(cell, -1, -1, &old));
        MT_EXPECT_EQ(old, 10 * (r + 1));
        MPI_Barrier(MPI_COMM_WORLD);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(cell));
}
