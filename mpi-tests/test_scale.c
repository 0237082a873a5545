/*
 * Scale (issue 12): what keeps per-rank costs from growing with the rank
 * count, and the protocol at many ranks (the scale tier runs this suite up
 * to 64). Small allocations spread over the ranks instead of piling onto the
 * first ones, and large ones keep rank r's share the r-th; an acquire with
 * nothing released costs one operation; neighbours' writes cross barriers
 * and one lock is passed through every rank.
 */
#include <stdint.h>
#include <stdlib.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

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

/* mdsm_acquire costs one atomic read (of the release epoch on rank 0) when no
 * rank released since this rank's last acquire (barriers aside: every rank
 * catches up in them), whatever the rank count: it used to read every rank's
 * head (np4: 3 gets). After a release announced with mdsm_release it reads
 * the heads and sees the write; the acquire after that costs one again. */
static void expect_acquire_ops(uint64_t want, const char *when)
{
    mdsm_stats_t a, b;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    MT_EXPECT_OK(mdsm_acquire());
    MT_EXPECT_OK(mdsm_stats_get(&b));
    if (b.rma_ops - a.rma_ops != want || b.invalidations != a.invalidations)
        mt_fail(__FILE__, __LINE__,
                "mdsm_acquire %s issued %llu one-sided operations and dropped %llu pages; "
                "expected %llu and none",
                when, (unsigned long long)(b.rma_ops - a.rma_ops),
                (unsigned long long)(b.invalidations - a.invalidations), (unsigned long long)want);
}

MT_MDSM_TEST(scale, acquire_with_nothing_released_reads_one_word)
{
    int n = mdsm_nranks(), me = mdsm_rank(), writer = n - 1;
    long ps = mdsm_page_size();
    char *base = mdsm_alloc((size_t)(2 * n) * (size_t)ps);
    MT_ASSERT(base != NULL);
    int64_t *flag = (int64_t *)base;
    volatile uint64_t *x = NULL;
    for (int p = 2 * n - 1; p >= 1 && !x; p--)
        if (mdsm_home_of(base + (size_t)p * (size_t)ps) == writer)
            x = (volatile uint64_t *)(base + (size_t)p * (size_t)ps);
    MT_ASSERT(x != NULL);
    MT_EXPECT_EQ(*x, 0); /* every rank caches X */
    MT_EXPECT_OK(mdsm_barrier());
    uint64_t one = n > 1 ? 1 : 0;
    MT_EXPECT_OK(mdsm_acquire()); /* reads the epoch (it may have moved before the barrier) */
    expect_acquire_ops(one, "right after another, nothing released");
    MT_EXPECT_OK(mdsm_barrier());

    if (me == writer) {
        *x = 7;
        MT_EXPECT_OK(mdsm_release());
        MT_EXPECT_OK(mdsm_fetch_add(flag, 1, NULL));
    } else {
        MT_EXPECT_EQ(dc_wait_flag(flag, 1), 1);
        MT_EXPECT_OK(mdsm_acquire());
        if (*x != 7)
            mt_fail(__FILE__, __LINE__,
                    "after the flag and mdsm_acquire X (home rank %d) reads %llu, expected 7 "
                    "released by rank %d",
                    dc_home(x), (unsigned long long)*x, writer);
        expect_acquire_ops(one, "again after catching up");
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* One page per rank, page r homed on rank r (block), and this rank's view of
 * its own page and its two neighbours'. Collective. */
struct ring {
    char *mem;
    volatile int64_t *mine, *left, *right;
};

static struct ring ring_alloc(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size();
    struct ring g = {mdsm_alloc((size_t)n * ps), NULL, NULL, NULL};
    if (g.mem) {
        g.mine = (volatile int64_t *)(g.mem + (size_t)me * ps);
        g.left = (volatile int64_t *)(g.mem + (size_t)((me + n - 1) % n) * ps);
        g.right = (volatile int64_t *)(g.mem + (size_t)((me + 1) % n) * ps);
    }
    return g;
}

/* Each rank writes its own page, and after each barrier reads both
 * neighbours' (cached since the round before, so dropped by the barrier). */
enum { NB_ROUNDS = 5 };

static int64_t nb_value(int round, int rank)
{
    return (int64_t)round * 100000 + rank;
}

MT_MDSM_TEST(scale, neighbours_writes_cross_every_barrier)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size();
    char *mem = mdsm_alloc((size_t)n * ps); /* page r homed on rank r */
    MT_ASSERT(mem != NULL);
    volatile int64_t *mine = (volatile int64_t *)(mem + (size_t)me * ps);
    int left = (me + n - 1) % n, right = (me + 1) % n;
    for (int round = 1; round <= NB_ROUNDS; round++) {
        mine[0] = nb_value(round, me);
        MT_EXPECT_OK(mdsm_barrier());
        for (int side = 0; side < 2; side++) {
            int r = side ? right : left;
            int64_t v = ((volatile int64_t *)(mem + (size_t)r * ps))[0];
            if (v != nb_value(round, r))
                mt_fail(__FILE__, __LINE__,
                        "round %d: rank %d's page (home rank %d) reads %lld after the barrier, "
                        "expected %lld",
                        round, r, dc_home(mem + (size_t)r * ps), (long long)v,
                        (long long)nb_value(round, r));
        }
        MT_EXPECT_OK(mdsm_barrier());
    }
    MT_EXPECT_OK(mdsm_free(mem));
}

/* Every rank adds to one counter under one lock, LC_TIMES times; the lock
 * and the counter's changes go from holder to holder. */
enum { LC_TIMES = 5 };

MT_MDSM_TEST(scale, one_lock_passed_through_every_rank)
{
    int n = mdsm_nranks();
    volatile int64_t *counter = mdsm_alloc((size_t)mdsm_page_size());
    MT_ASSERT(counter != NULL);
    int bad = 0;
    for (int i = 0; i < LC_TIMES; i++) {
        int rc = mdsm_lock(0);
        MT_EXPECT_RC(rc, MDSM_OK);
        if (rc != MDSM_OK)
            break; /* the counter then falls short on every rank */
        int64_t v = counter[0];
        if (v < 0 || v >= (int64_t)n * LC_TIMES)
            bad = 1;
        counter[0] = v + 1;
        MT_EXPECT_OK(mdsm_unlock(0));
    }
    MT_EXPECT(!bad);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(counter[0], (int64_t)n * LC_TIMES);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)counter));
}

/* When more than 2 ranks wrote, a barrier brings the write notices in
 * collectives (the heads, then the entries), not by reading each writer's
 * log: no one-sided operation, at most 2 collectives, whatever the rank count
 * (it used to read every writer's log: 3 gets per writer). Each rank writes
 * its own page, which its neighbours cache; the measured barrier releases
 * only home pages, so it puts nothing either. */
MT_MDSM_TEST(scale, barrier_after_many_writers_reads_no_logs)
{
    int n = mdsm_nranks();
    struct ring g = ring_alloc();
    MT_ASSERT(g.mem != NULL);
    volatile int64_t *mine = g.mine, *left = g.left, *right = g.right;
    int64_t sink = 0;
    for (int round = 1; round <= 3; round++) {
        mine[0] = round;
        mdsm_stats_t a, b;
        MT_EXPECT_OK(mdsm_stats_get(&a));
        MT_EXPECT_OK(mdsm_barrier());
        MT_EXPECT_OK(mdsm_stats_get(&b));
        sink += left[0] + right[0]; /* cached again for the next round */
        if (left[0] != round || right[0] != round)
            mt_fail(__FILE__, __LINE__, "round %d: the neighbours' pages read %lld and %lld", round,
                    (long long)left[0], (long long)right[0]);
        if (round > 1 && n > 2 && (b.rma_ops != a.rma_ops || b.collectives - a.collectives > 2))
            mt_fail(__FILE__, __LINE__,
                    "round %d: mdsm_barrier after every rank wrote issued %llu one-sided "
                    "operations and %llu collectives; expected none and at most 2",
                    round, (unsigned long long)(b.rma_ops - a.rma_ops),
                    (unsigned long long)(b.collectives - a.collectives));
        MT_EXPECT_OK(mdsm_barrier()); /* read before the next round's writes */
    }
    (void)sink;
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(g.mem));
}

/* More notices than one round of the barrier's exchange holds (4 rings'
 * worth, 262,144 entries): each rank logs 300,000 / N notices (at most 60,000,
 * within its ring) with atomics on its own counter, then writes its page,
 * which its neighbours cache. From 5 ranks up the entries take two rounds
 * (three collectives with the heads); every neighbour's write is seen. */
enum { RD_TOTAL = 300000, RD_MAX_PER_RANK = 60000 };

MT_MDSM_TEST(scale, barrier_exchange_in_rounds)
{
    int n = mdsm_nranks();
    struct ring g = ring_alloc();
    MT_ASSERT(g.mem != NULL);
    volatile int64_t *mine = g.mine, *left = g.left, *right = g.right;
    int64_t *counter = (int64_t *)(void *)(mine + 8);
    int per = RD_TOTAL / n < RD_MAX_PER_RANK ? RD_TOTAL / n : RD_MAX_PER_RANK;
    MT_ASSERT_OK(dc_node_map_init());
    int untracked = 1; /* every rank shares home memory with every rank: no notices */
    for (int r = 0; r < n; r++)
        untracked &= dc_shares_home(r);
    MT_EXPECT_EQ(left[0] + right[0], 0); /* cached */
    MT_EXPECT_OK(mdsm_barrier());
    for (int i = 0; i < per; i++)
        if (mdsm_fetch_add(counter, 1, NULL) != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "mdsm_fetch_add failed at %d", i);
            break;
        }
    mine[0] = 7;
    mdsm_stats_t a, b;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_stats_get(&b));
    if (left[0] != 7 || right[0] != 7)
        mt_fail(__FILE__, __LINE__,
                "after %d notices per rank and a barrier the neighbours' pages read %lld and %lld, "
                "expected 7",
                per, (long long)left[0], (long long)right[0]);
    int64_t v = -1;
    MT_EXPECT_OK(mdsm_fetch_add(counter, 0, &v));
    MT_EXPECT_EQ(v, per);
    if (n >= 5 && !untracked && b.collectives - a.collectives != 3)
        mt_fail(__FILE__, __LINE__,
                "the barrier after %d notices on each of %d ranks made %llu collectives; "
                "expected 3 (the heads and two rounds of entries)",
                per, n, (unsigned long long)(b.collectives - a.collectives));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(g.mem));
}

/* A lock grant carries the vector as the ranks that wrote since the last
 * barrier (here one), not N words: after a barrier rank 0 takes lock 1,
 * writes, tells rank 1 (MPI), which queues, and hands the lock on after
 * 200 ms. The grant must hold under 128 bytes at any rank count (the full
 * vector was 8 (N + 1) bytes and more: 136 at 16 ranks), and rank 1 sees the
 * write. Where rank 1 was not queued in time, there is no grant to measure. */
MT_MDSM_TEST(scale, lock_grant_carries_only_recent_writers)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    volatile int64_t *cell = mdsm_alloc((size_t)mdsm_page_size());
    MT_ASSERT(cell != NULL);
    MT_EXPECT_EQ(cell[0], 0);
    MT_EXPECT_OK(mdsm_barrier());
    int go = 1;
    if (n > 1 && me == 0) {
        MT_EXPECT_OK(mdsm_lock(1));
        cell[0] = 42;
        MPI_Send(&go, 1, MPI_INT, 1, 77, MPI_COMM_WORLD);
        dc_sleep_until(dc_now() + 0.2);
        mdsm_stats_t a, b;
        MT_EXPECT_OK(mdsm_stats_get(&a));
        MT_EXPECT_OK(mdsm_unlock(1));
        MT_EXPECT_OK(mdsm_stats_get(&b));
        if (b.messages - a.messages == 1 && b.message_bytes - a.message_bytes >= 128)
            mt_fail(__FILE__, __LINE__,
                    "the grant of lock 1 after one writer since the barrier took %llu bytes at %d "
                    "ranks; expected under 128",
                    (unsigned long long)(b.message_bytes - a.message_bytes), n);
    } else if (n > 1 && me == 1) {
        MPI_Recv(&go, 1, MPI_INT, 0, 77, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MT_EXPECT_OK(mdsm_lock(1));
        MT_EXPECT_EQ(cell[0], 42);
        MT_EXPECT_OK(mdsm_unlock(1));
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)cell));
}

/* A lock left free keeps its last holder's vector at its home in the grant's
 * encoding (the ranks that wrote since the barrier): the next holder reads it
 * in one get of at most 256 bytes. The whole vector took 8N, 516 bytes in all
 * at 64 ranks: from 41 ranks up (the scale tier's 64) the bound fails
 * without the encoding. After a barrier, the vector left before it still
 * decodes against the new holder's base, with no read of every rank's head
 * (N - 1 gets, as a sparse vector from another barrier would otherwise
 * cost). Each holder sees the last one's write. */
MT_MDSM_TEST(scale, free_lock_leaves_a_short_vector_at_its_home)
{
    int n = mdsm_nranks(), me = mdsm_rank(), last = n - 1;
    volatile int64_t *cell = mdsm_alloc((size_t)mdsm_page_size());
    MT_ASSERT(cell != NULL);
    MT_EXPECT_OK(mdsm_barrier());
    if (me == 0) {
        MT_EXPECT_OK(mdsm_lock(2));
        cell[0] = 42;
        MT_EXPECT_OK(mdsm_unlock(2));
    }
    MPI_Barrier(MPI_COMM_WORLD); /* lock 2 is free, its vector at its home */
    mdsm_stats_t a, b;
    if (n > 1 && me == last) {
        MT_EXPECT_OK(mdsm_stats_get(&a));
        MT_EXPECT_OK(mdsm_lock(2));
        MT_EXPECT_OK(mdsm_stats_get(&b));
        /* the swap, the vector, rank 0's entry and its written count */
        if (b.rma_bytes - a.rma_bytes > 256 + 64)
            mt_fail(__FILE__, __LINE__,
                    "taking free lock 2 after one writer took %llu bytes of RMA at %d ranks; "
                    "expected at most 320",
                    (unsigned long long)(b.rma_bytes - a.rma_bytes), n);
        MT_EXPECT_EQ(cell[0], 42);
        cell[0] = 43;
        MT_EXPECT_OK(mdsm_unlock(2));
    }
    MT_EXPECT_OK(mdsm_barrier());
    if (n > 2 && me == 1) {
        MT_EXPECT_OK(mdsm_stats_get(&a));
        MT_EXPECT_OK(mdsm_lock(2));
        MT_EXPECT_OK(mdsm_stats_get(&b));
        if (b.rma_ops - a.rma_ops > 3) /* the swap and the vector's get(s) */
            mt_fail(__FILE__, __LINE__,
                    "taking free lock 2 after a barrier took %llu RMA operations at %d ranks; "
                    "expected at most 3",
                    (unsigned long long)(b.rma_ops - a.rma_ops), n);
        MT_EXPECT_EQ(cell[0], 43);
        MT_EXPECT_OK(mdsm_unlock(2));
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)cell));
}

/* Per-rank metadata: an allocation costs a rank table memory only for the
 * pages it uses in place (homed on it, or on its node with node sharing),
 * 16 bytes each, not for every page of the allocation (24 bytes each before:
 * 512 MiB of 4 KiB pages took 3 MiB on every rank); mdsm_free gives that
 * memory back. A small allocation first warms MPI's collective paths. */
#define META_SLACK_KB 384

MT_MDSM_TEST(scale, allocation_metadata_follows_the_pages_homed_here)
{
    MT_ASSERT_EQ(dc_node_map_init(), MDSM_OK);
    size_t ps = (size_t)mdsm_page_size();
    size_t npages = (size_t)(dc_space_bytes() / 2 / ps);
    MT_ASSERT(npages > 0);
    if (npages > (size_t)1 << 17)
        npages = (size_t)1 << 17;
    void *warm = mdsm_alloc(ps);
    MT_ASSERT(warm != NULL);
    MT_EXPECT_OK(mdsm_free(warm));
    long long before = dc_rss_anon_kb();
    char *a = mdsm_alloc(npages * ps);
    long long after = dc_rss_anon_kb();
    MT_ASSERT(a != NULL);
    MT_ASSERT(before >= 0 && after >= 0);
    size_t here = 0;
    for (size_t p = 0; p < npages; p++)
        here += (size_t)dc_shares_home(mdsm_home_of(a + p * ps));
    long long limit = (long long)(here * 16 / 1024) + META_SLACK_KB;
    if (after - before > limit)
        mt_fail(__FILE__, __LINE__,
                "mdsm_alloc of %zu pages, %zu of them homed where this rank uses them in place, "
                "grew its anonymous memory by %lld kB; expected at most %lld (16 bytes per such "
                "page + %d kB)",
                npages, here, after - before, limit, META_SLACK_KB);
    MT_EXPECT_OK(mdsm_free(a));
    long long freed = dc_rss_anon_kb();
    if (freed - before > META_SLACK_KB)
        mt_fail(__FILE__, __LINE__,
                "after mdsm_free of %zu pages this rank's anonymous memory is still %lld kB above "
                "what it was before mdsm_alloc (at most %d expected)",
                npages, freed - before, META_SLACK_KB);
}
