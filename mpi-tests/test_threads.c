/*
 * Threads inside a rank (issue 10): OpenMP teams of a rank load and store
 * global memory concurrently and call mdsm's synchronisation from any thread.
 * The rank is the unit of coherence: a release by any thread publishes what
 * every thread of the rank wrote before it, an acquire by any thread makes
 * others' released writes visible to every thread that synchronises with it
 * afterwards (an omp barrier). Concurrent faults on one page fetch it once.
 * Locks exclude threads of one rank from each other as they exclude ranks;
 * barrier, alloc and free stay one call per rank, and a second thread calling
 * one while another thread of its rank is inside one gets MDSM_ERR_CONCURRENT.
 *
 * Conventions: every parallel region asks for its team with num_threads() and
 * checks it got it (dynamic teams off), so OMP_NUM_THREADS does not matter.
 * Collective mdsm calls are made by one thread between omp barriers, so no
 * thread writes while its rank releases. Waits on another thread are bounded
 * (DC_WAIT_LIMIT_S) and no omp barrier sits on a path a failing thread could
 * leave: a failure anywhere is recorded (EXPECT, or mt_fail with the thread
 * named by the harness) and the team still reaches every barrier.
 */
#include <omp.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

#ifndef MDSM_ERR_CONCURRENT /* until include/mdsm.h has it */
#define MDSM_ERR_CONCURRENT (-23)
#endif

enum { NT = 4 }; /* threads per rank, unless a test says otherwise */

/* Asks for exact teams: with dynamic adjustment on, num_threads() is a maximum. */
static void exact_teams(void)
{
    omp_set_dynamic(0);
}

/* Inside a parallel region: records a failure (once, from thread 0) if the
 * team is not the size the test's partitioning assumes. Returns 1 if it is. */
static int team_is(int want)
{
    int got = omp_get_num_threads();
    if (got != want && omp_get_thread_num() == 0)
        mt_fail(__FILE__, __LINE__,
                "the team has %d threads, the test asked for %d (OMP_THREAD_LIMIT or "
                "OMP_DYNAMIC in the environment?)",
                got, want);
    return got == want;
}

/* One mdsm_barrier for the team: every thread has stopped touching memory
 * before it, none starts again before it returned. Called by all threads. */
#define TEAM_BARRIER()                                                                             \
    do {                                                                                           \
        _Pragma("omp barrier");                                                                    \
        _Pragma("omp single") MT_EXPECT_OK(mdsm_barrier());                                        \
    } while (0)

/* Spins (yielding) until *flag reaches want, at most DC_WAIT_LIMIT_S; returns
 * 1 if it did. For handshakes between the threads of one rank. */
static int wait_flag(const int *flag, int want)
{
    double give_up = dc_now() + DC_WAIT_LIMIT_S;
    while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) < want) {
        if (dc_now() > give_up)
            return 0;
        sched_yield();
    }
    return 1;
}

static void set_flag(int *flag, int value)
{
    __atomic_store_n(flag, value, __ATOMIC_RELEASE);
}

/* ---- The harness and MPI ------------------------------------------------------ */

MT_MDSM_TEST(threads, mpi_provides_thread_multiple)
{
    int provided = MPI_THREAD_SINGLE;
    MT_EXPECT_EQ(MPI_Query_thread(&provided), MPI_SUCCESS);
    MT_EXPECT_EQ(provided, MPI_THREAD_MULTIPLE);
    exact_teams();
    int seen = 0;
#pragma omp parallel num_threads(NT)
    {
        if (team_is(NT))
            __atomic_fetch_add(&seen, 1, __ATOMIC_RELAXED);
        MT_EXPECT_EQ(mdsm_rank(), mt_rank()); /* local getters from any thread */
        MT_EXPECT_EQ(mdsm_nranks(), mt_nranks());
    }
    MT_EXPECT_EQ(seen, NT);
}

/* ---- a. Interleaved words of shared pages ---------------------------------------- */

enum { A_PAGES = 256, A_ROUNDS = 20 };

/* base with round + 1 added to each of its bytes (mod 256): every byte
 * differs from the previous round's, so a page rewritten in full goes home
 * as one run (diffs split at unchanged bytes, and each run is a put: slow
 * where the home serves puts by active messages, as MPICH does). Distinct
 * for rounds below 255. */
static uint64_t round_value(uint64_t base, int round)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL, high = 0x8080808080808080ULL;
    uint64_t add = (uint64_t)((round + 1) & 0xff) * 0x0101010101010101ULL;
    return ((base & low7) + (add & low7)) ^ ((base ^ add) & high);
}

/* Differs between rounds, writers and words, so a stale or misplaced word shows. */
static uint64_t a_value(int round, int writer, size_t word)
{
    return round_value(dc_hash3(0xa11a0000ULL, (uint64_t)writer, word), round);
}

/* Every rank w writes the A_PAGES pages homed on rank target(w) (its right-hand
 * neighbour when remote, itself otherwise), NT threads at once, word i by
 * thread i % NT. After the barrier every rank's team reads every writer's
 * pages back, all threads on the same pages at once. */
static void interleaved_words(int remote)
{
    exact_teams();
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    size_t wpp = (size_t)ps / sizeof(uint64_t), total = (size_t)n * A_PAGES;
    volatile uint64_t *base = mdsm_alloc(total * (size_t)ps);
    size_t *pages = calloc((size_t)n * A_PAGES, sizeof(size_t)); /* pages[h*A_PAGES + k] */
    int found_all = base != NULL && pages != NULL;
    for (int h = 0; found_all && h < n; h++)
        found_all =
            dc_pages_homed_on(base, total, h, 1, pages + (size_t)h * A_PAGES, A_PAGES) == A_PAGES;
    if (!dc_all(found_all)) {
        mt_fail(__FILE__, __LINE__,
                "setup: alloc of %zu pages (%s) or %d pages homed on every rank failed here or "
                "on another rank",
                total, base ? "ok" : mdsm_strerror(mdsm_last_error()), A_PAGES);
        if (base)
            MT_EXPECT_OK(mdsm_free((void *)base));
        free(pages);
        return;
    }
#define A_TARGET(w)     (remote ? ((w) + 1) % n : (w))
#define A_WORD(h, k, i) (base + pages[(size_t)(h)*A_PAGES + (k)] * wpp + (i))
    struct dc_tally tally = {0};
#pragma omp parallel num_threads(NT)
    {
        int t = omp_get_thread_num(), ok_team = team_is(NT);
        int mine = A_TARGET(me);
        for (int r = 0; r < A_ROUNDS; r++) {
            if (ok_team) {
                for (size_t k = 0; k < A_PAGES; k++)
                    for (size_t i = (size_t)t; i < wpp; i += NT)
                        *A_WORD(mine, k, i) = a_value(r, me, k * wpp + i);
                for (size_t k = 0; k < A_PAGES; k++) /* this thread's own writes */
                    for (size_t i = (size_t)t; i < wpp; i += NT) {
                        uint64_t seen = *A_WORD(mine, k, i), want = a_value(r, me, k * wpp + i);
                        if (seen != want)
                            DC_MISMATCH(&tally,
                                        "round %d, before the barrier: word %zu of page %zu (home "
                                        "rank %d) reads back %#llx, this thread wrote %#llx",
                                        r, i, pages[(size_t)mine * A_PAGES + k], mine,
                                        (unsigned long long)seen, (unsigned long long)want);
                    }
            }
            TEAM_BARRIER();
            /* Thread t reads words i % NT == (t + r + 1) % NT: another thread's
             * words, of every page of every writer. */
            for (int w = 0; ok_team && w < n; w++) {
                int h = A_TARGET(w);
                for (size_t k = 0; k < A_PAGES; k++)
                    for (size_t i = (size_t)(t + r + 1) % NT; i < wpp; i += NT) {
                        uint64_t seen = *A_WORD(h, k, i), want = a_value(r, w, k * wpp + i);
                        if (seen != want)
                            DC_MISMATCH(&tally,
                                        "round %d, after the barrier: word %zu of page %zu (home "
                                        "rank %d, written by rank %d thread %zu) reads %#llx, "
                                        "expected %#llx%s",
                                        r, i, pages[(size_t)h * A_PAGES + k], h, w, i % NT,
                                        (unsigned long long)seen, (unsigned long long)want,
                                        r > 0 && seen == a_value(r - 1, w, k * wpp + i)
                                            ? " (the previous round's value: stale)"
                                            : "");
                    }
            }
            TEAM_BARRIER(); /* reads end before the next round writes */
        }
    }
#undef A_WORD
#undef A_TARGET
    DC_TALLY_END(&tally,
                 remote ? "interleaved words, remote pages" : "interleaved words, home pages");
    MT_EXPECT_OK(mdsm_free((void *)base));
    free(pages);
}

MT_MDSM_TEST(threads, interleaved_words_remote_pages)
{
    interleaved_words(1);
}

MT_MDSM_TEST(threads, interleaved_words_home_pages)
{
    interleaved_words(0);
}

/* ---- b. Concurrent faults on one page --------------------------------------------- */

enum { B_TRIALS = 48 };

static uint64_t b_value(int home, size_t page, size_t word)
{
    return dc_hash3(0xb0b0ULL, ((uint64_t)home << 32) | page, word) | 1; /* never 0: unwritten */
}

#define STATS_FMT                                                                                  \
    "read_faults %llu, write_faults %llu, pages_fetched %llu, diffs %llu, evictions %llu"
#define STATS_ARGS(s)                                                                              \
    (unsigned long long)(s).read_faults, (unsigned long long)(s).write_faults,                     \
        (unsigned long long)(s).pages_fetched, (unsigned long long)(s).diffs,                      \
        (unsigned long long)(s).evictions

/* B_TRIALS fresh pages homed on this rank's right-hand neighbour: their home
 * fills them, then for each page in turn, last first (misses in address
 * order, at any stride, would prefetch the next), this rank's team is
 * released by an omp barrier and every thread reads the whole page at once. */
MT_MDSM_TEST(threads, concurrent_read_faults_fetch_once)
{
    exact_teams();
    int n = mdsm_nranks(), me = mdsm_rank(), from = (me + 1) % n;
    long ps = mdsm_page_size();
    size_t wpp = (size_t)ps / sizeof(uint64_t), total = (size_t)n * B_TRIALS;
    volatile uint64_t *base = mdsm_alloc(total * (size_t)ps);
    size_t mine[B_TRIALS], theirs[B_TRIALS];
    int ok = base != NULL && dc_pages_homed_on(base, total, me, 1, mine, B_TRIALS) == B_TRIALS &&
             dc_pages_homed_on(base, total, from, 1, theirs, B_TRIALS) == B_TRIALS;
    if (!dc_all(ok)) {
        mt_fail(__FILE__, __LINE__, "setup failed here or on another rank");
        if (base)
            MT_EXPECT_OK(mdsm_free((void *)base));
        return;
    }
    MT_ASSERT_OK(dc_node_map_init());
    for (int k = 0; k < B_TRIALS; k++)
        for (size_t i = 0; i < wpp; i++)
            base[mine[k] * wpp + i] = b_value(me, mine[k], i);
    MT_ASSERT_OK(mdsm_barrier());
    /* Pages homed with a rank this one shares home memory with are read in place. */
    uint64_t want_fetches = dc_shares_home(from) ? 0 : 1;
    struct dc_tally tally = {0};
    for (int k = B_TRIALS - 1; k >= 0; k--) {
        mdsm_stats_t before, after;
        MT_EXPECT_OK(mdsm_stats_get(&before));
        volatile uint64_t *page = base + theirs[k] * wpp;
#pragma omp parallel num_threads(NT)
        {
            int t = omp_get_thread_num();
#pragma omp barrier
            /* All threads fault on the same page; each then checks all of it. */
            uint64_t first = page[(size_t)t];
            if (first != b_value(from, theirs[k], (size_t)t))
                DC_MISMATCH(&tally,
                            "trial %d: word %d of page %zu (home rank %d) reads %#llx first, "
                            "expected %#llx",
                            k, t, theirs[k], from, (unsigned long long)first,
                            (unsigned long long)b_value(from, theirs[k], (size_t)t));
            for (size_t i = 0; i < wpp; i++)
                if (page[i] != b_value(from, theirs[k], i))
                    DC_MISMATCH(&tally,
                                "trial %d: word %zu of page %zu (home rank %d) reads %#llx, "
                                "expected %#llx",
                                k, i, theirs[k], from, (unsigned long long)page[i],
                                (unsigned long long)b_value(from, theirs[k], i));
        }
        MT_EXPECT_OK(mdsm_stats_get(&after));
        if (after.pages_fetched - before.pages_fetched != want_fetches)
            mt_fail(__FILE__, __LINE__,
                    "trial %d: %d threads faulting on page %zu (home rank %d, this rank %s) at "
                    "once fetched it %llu times, expected %llu; before: " STATS_FMT
                    "; after: " STATS_FMT,
                    k, NT, theirs[k], from, dc_share_word(from),
                    (unsigned long long)(after.pages_fetched - before.pages_fetched),
                    (unsigned long long)want_fetches, STATS_ARGS(before), STATS_ARGS(after));
    }
    DC_TALLY_END(&tally, "concurrent read faults");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

static uint64_t bw_value(int trial, int writer, size_t word)
{
    return dc_hash3(0xb1b1ULL + (uint64_t)trial, (uint64_t)writer, word) | 1;
}

/* The same for writes: the team writes its words (word i by thread i % NT)
 * of one fresh page of its neighbour at once: one fetch, one twin, so after
 * mdsm_release one diff carries every thread's words home. After a barrier
 * every rank reads every writer's pages. */
MT_MDSM_TEST(threads, concurrent_write_faults_fetch_once)
{
    exact_teams();
    int n = mdsm_nranks(), me = mdsm_rank(), to = (me + 1) % n;
    long ps = mdsm_page_size();
    size_t wpp = (size_t)ps / sizeof(uint64_t), total = (size_t)n * B_TRIALS;
    volatile uint64_t *base = mdsm_alloc(total * (size_t)ps);
    size_t *homed = calloc((size_t)n * B_TRIALS, sizeof(size_t)); /* homed[h*B_TRIALS + k] */
    int ok = base != NULL && homed != NULL;
    for (int h = 0; ok && h < n; h++)
        ok = dc_pages_homed_on(base, total, h, 1, homed + (size_t)h * B_TRIALS, B_TRIALS) ==
             B_TRIALS;
    if (!dc_all(ok)) {
        mt_fail(__FILE__, __LINE__, "setup failed here or on another rank");
        if (base)
            MT_EXPECT_OK(mdsm_free((void *)base));
        free(homed);
        return;
    }
    MT_ASSERT_OK(dc_node_map_init());
    uint64_t want = dc_shares_home(to) ? 0 : 1; /* fetches and diffs per page */
    struct dc_tally tally = {0};
    for (int k = 0; k < B_TRIALS; k++) {
        size_t p = homed[(size_t)to * B_TRIALS + k];
        volatile uint64_t *page = base + p * wpp;
        mdsm_stats_t before, faulted, released;
        MT_EXPECT_OK(mdsm_stats_get(&before));
#pragma omp parallel num_threads(NT)
        {
            int t = omp_get_thread_num();
            if (team_is(NT)) {
#pragma omp barrier
                for (size_t i = (size_t)t; i < wpp; i += NT)
                    page[i] = bw_value(k, me, i);
            }
        }
        MT_EXPECT_OK(mdsm_stats_get(&faulted));
        MT_EXPECT_OK(mdsm_release());
        MT_EXPECT_OK(mdsm_stats_get(&released));
        if (faulted.pages_fetched - before.pages_fetched != want ||
            released.diffs - faulted.diffs != want)
            mt_fail(__FILE__, __LINE__,
                    "trial %d: %d threads writing page %zu (home rank %d, this rank %s) at once: "
                    "%llu fetches and, at the release, %llu diffs, expected %llu of each; "
                    "before: " STATS_FMT "; after the writes: " STATS_FMT
                    "; after the release: " STATS_FMT,
                    k, NT, p, to, dc_share_word(to),
                    (unsigned long long)(faulted.pages_fetched - before.pages_fetched),
                    (unsigned long long)(released.diffs - faulted.diffs), (unsigned long long)want,
                    STATS_ARGS(before), STATS_ARGS(faulted), STATS_ARGS(released));
    }
    MT_EXPECT_OK(mdsm_barrier());
#pragma omp parallel num_threads(NT)
    {
        /* Every rank, every writer's pages: each thread a share of the words. */
        int t = omp_get_thread_num();
        for (int w = 0; w < n; w++) {
            int h = (w + 1) % n;
            for (int k = 0; k < B_TRIALS; k++) {
                size_t p = homed[(size_t)h * B_TRIALS + k];
                for (size_t i = (size_t)t; i < wpp; i += (size_t)omp_get_num_threads()) {
                    uint64_t seen = base[p * wpp + i];
                    if (seen != bw_value(k, w, i))
                        DC_MISMATCH(&tally,
                                    "after the barrier: word %zu of page %zu (home rank %d), "
                                    "written by rank %d's thread %zu in trial %d, reads %#llx, "
                                    "expected %#llx%s",
                                    i, p, h, w, i % NT, k, (unsigned long long)seen,
                                    (unsigned long long)bw_value(k, w, i),
                                    seen == 0 ? " (the write never reached the home)" : "");
                }
            }
        }
    }
    DC_TALLY_END(&tally, "concurrent write faults");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
    free(homed);
}

/* ---- c. Locks and atomics from threads ---------------------------------------------- */

enum { C_INCS = 200 };

/* Every thread of every rank adds 1 to one counter C_INCS times under one
 * lock (homed on the last rank): no increment is lost, no two threads of a
 * rank are inside at once, and a thread never sees the counter below what it
 * left. */
MT_MDSM_TEST(threads, lock_counter_is_exact)
{
    exact_teams();
    int n = mdsm_nranks();
    volatile int64_t *counter = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(counter != NULL);
    int lock = n - 1, inside = 0;
    long done = 0;
#pragma omp parallel num_threads(NT)
    {
        team_is(NT);
        int t = omp_get_thread_num();
        int64_t last = 0;
        long mine = 0;
        for (int k = 0; k < C_INCS; k++) {
            int rc = mdsm_lock(lock);
            if (rc != MDSM_OK) {
                mt_fail(__FILE__, __LINE__,
                        "thread %d, increment %d: mdsm_lock(%d) returned %d (%s)", t, k, lock, rc,
                        mdsm_strerror(rc));
                break;
            }
            int others = __atomic_fetch_add(&inside, 1, __ATOMIC_ACQ_REL);
            if (others != 0)
                mt_fail(__FILE__, __LINE__,
                        "thread %d, increment %d: holds lock %d while %d other thread(s) of this "
                        "rank are inside it",
                        t, k, lock, others);
            int64_t v = *counter;
            if (v < last)
                mt_fail(__FILE__, __LINE__,
                        "thread %d, increment %d: under lock %d the counter reads %lld, below the "
                        "%lld this thread left at its previous increment",
                        t, k, lock, (long long)v, (long long)last);
            *counter = v + 1;
            last = v + 1;
            __atomic_fetch_sub(&inside, 1, __ATOMIC_ACQ_REL);
            mine++;
            rc = mdsm_unlock(lock);
            if (rc != MDSM_OK) {
                mt_fail(__FILE__, __LINE__,
                        "thread %d, increment %d: mdsm_unlock(%d) returned %d (%s)", t, k, lock, rc,
                        mdsm_strerror(rc));
                break;
            }
        }
        __atomic_fetch_add(&done, mine, __ATOMIC_RELAXED);
    }
    MT_EXPECT_EQ(done, (long)NT * C_INCS);
    MT_EXPECT_OK(mdsm_barrier());
    int64_t total = *counter, want = (int64_t)n * NT * C_INCS;
    if (total != want)
        mt_fail(__FILE__, __LINE__,
                "after the barrier the counter (home rank %d, lock %d) reads %lld, expected %d "
                "ranks x %d threads x %d = %lld",
                dc_home(counter), lock, (long long)total, n, NT, C_INCS, (long long)want);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)counter));
}

/* A page homed on the last rank and cached by the others, written by
 * threads of one rank (its home, or rank 0 with a copy) while another thread
 * of that rank releases in a loop, so that writes race releases that find the
 * page unchanged (and close it) or changed (and keep it writable, compared
 * with a twin). In each of K_EPOCHS epochs threads 1..NT-1 each write their
 * word once and release; thread 0 releases until they are done. Every
 * writer's release covers its write: an acquire alone (no release by the
 * writer since) must then show the epoch's values on every rank. */
enum { K_EPOCHS = 300 };

static void writes_racing_releases(int writer_is_home)
{
    exact_teams();
    int n = mdsm_nranks(), me = mdsm_rank(), home = n - 1, writer = writer_is_home ? home : 0;
    long ps = mdsm_page_size();
    MT_ASSERT_OK(dc_node_map_init());
    char *base = mdsm_alloc((size_t)n * (size_t)ps);
    MT_ASSERT(base != NULL);
    volatile int64_t *page = (volatile int64_t *)(base + (size_t)home * (size_t)ps);
    MT_ASSERT_EQ(dc_home((const void *)page), home);
    for (int t = 0; t < NT; t++) /* copies elsewhere: the home's writes are tracked */
        MT_EXPECT_EQ(page[8 * t], 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_barrier()); /* the home's release here sees every sharer byte */
    int stale = 0;
    for (int64_t e = 1; e <= K_EPOCHS && !stale; e++) {
        if (me == writer) {
            int written = 0;
#pragma omp parallel num_threads(NT)
            {
                team_is(NT);
                int t = omp_get_thread_num();
                if (t == 0) {
                    while (__atomic_load_n(&written, __ATOMIC_ACQUIRE) < NT - 1)
                        MT_EXPECT_OK(mdsm_release());
                } else {
                    page[8 * t] = e; /* words 64 bytes apart: the threads' own */
                    MT_EXPECT_OK(mdsm_release());
                    __atomic_fetch_add(&written, 1, __ATOMIC_ACQ_REL);
                }
            }
        }
        MPI_Barrier(MPI_COMM_WORLD);
        MT_EXPECT_OK(mdsm_acquire());
        for (int t = 1; t < NT; t++)
            if (page[8 * t] != e) {
                mt_fail(__FILE__, __LINE__,
                        "epoch %lld: word %d (thread %d of rank %d, home rank %d) reads %lld "
                        "after an acquire",
                        (long long)e, 8 * t, t, writer, home, (long long)page[8 * t]);
                stale = 1;
            }
        MPI_Allreduce(MPI_IN_PLACE, &stale, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

MT_MDSM_TEST(threads, home_writes_racing_releases_are_noticed)
{
    writes_racing_releases(1);
}

MT_MDSM_TEST(threads, remote_writes_racing_releases_reach_the_home)
{
    writes_racing_releases(0);
}

/* Lock ownership is per thread: thread 0 takes lock L (one per rank); taking
 * it again from thread 0 is MDSM_ERR_LOCK_HELD; thread 1's unlock is
 * MDSM_ERR_NOT_LOCK_HOLDER (and leaves it held); thread 1's mdsm_lock waits
 * until thread 0 unlocks, then gets it. */
MT_MDSM_TEST(threads, lock_is_held_by_a_thread)
{
    exact_teams();
    int me = mdsm_rank(), lock = 8 + me; /* homes spread over the ranks */
    MT_ASSERT(lock < mdsm_num_locks());
    int n = mdsm_nranks();
    volatile int64_t *words = mdsm_alloc((size_t)n * sizeof(int64_t)); /* one per rank */
    MT_ASSERT(words != NULL);
    int step = 0, unlocking = 0;
#pragma omp parallel num_threads(2)
    {
        if (team_is(2) && omp_get_thread_num() == 0) {
            int rc = mdsm_lock(lock);
            MT_EXPECT_RC(rc, MDSM_OK);
            MT_EXPECT_RC(mdsm_lock(lock), MDSM_ERR_LOCK_HELD);
            set_flag(&step, 1); /* thread 1: try to unlock it */
            if (!wait_flag(&step, 2))
                mt_fail(__FILE__, __LINE__, "thread 1 did not come back within %.0f s",
                        DC_WAIT_LIMIT_S);
            /* Thread 1 is about to block in mdsm_lock: give it time to get there. */
            dc_sleep_until(dc_now() + 0.2);
            set_flag(&unlocking, 1);
            if (rc == MDSM_OK)
                MT_EXPECT_OK(mdsm_unlock(lock));
        } else if (omp_get_num_threads() == 2) {
            if (!wait_flag(&step, 1))
                mt_fail(__FILE__, __LINE__, "thread 0 did not take lock %d within %.0f s", lock,
                        DC_WAIT_LIMIT_S);
            MT_EXPECT_RC(mdsm_unlock(lock), MDSM_ERR_NOT_LOCK_HOLDER);
            set_flag(&step, 2);
            int rc = mdsm_lock(lock);
            MT_EXPECT_RC(rc, MDSM_OK);
            if (rc == MDSM_OK) {
                if (!__atomic_load_n(&unlocking, __ATOMIC_ACQUIRE))
                    mt_fail(__FILE__, __LINE__,
                            "thread 1 got lock %d while thread 0 of its rank still held it", lock);
                words[me] += 1;
                MT_EXPECT_OK(mdsm_unlock(lock));
            }
        }
    }
    MT_EXPECT_OK(mdsm_barrier());
    for (int r = 0; r < n; r++) /* each rank's thread 1 added 1 under its rank's lock */
        if (words[r] != 1)
            mt_fail(__FILE__, __LINE__,
                    "after the barrier rank %d's word reads %lld, expected 1 (thread 1's "
                    "increment under lock %d)",
                    r, (long long)words[r], 8 + r);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)words));
}

/* mdsm_fetch_add and mdsm_cas from every thread of every rank: the values
 * each returns are all different and together exactly 0..N-1. */
MT_MDSM_TEST(threads, atomics_from_threads_are_exact)
{
    exact_teams();
    int n = mdsm_nranks(), me = mdsm_rank();
    int64_t *ctr = mdsm_alloc(2 * sizeof(int64_t)); /* [0]: fetch_add, [1]: cas */
    MT_ASSERT(ctr != NULL);
    size_t per = (size_t)NT * C_INCS, all_n = per * (size_t)n;
    int64_t *olds = calloc(2 * per, sizeof(int64_t)), *all = NULL;
    MT_ASSERT(olds != NULL);
#pragma omp parallel num_threads(NT)
    {
        int t = omp_get_thread_num();
        if (team_is(NT))
            for (int k = 0; k < C_INCS; k++) {
                int64_t *slot = &olds[(size_t)t * C_INCS + (size_t)k];
                MT_EXPECT_OK(mdsm_fetch_add(&ctr[0], 1, slot));
                int64_t expect = 0, seen = -1;
                int tries = 0;
                for (;;) { /* an increment by compare-and-swap */
                    if (mdsm_cas(&ctr[1], expect, expect + 1, &seen) != MDSM_OK || seen == expect)
                        break;
                    expect = seen;
                    if (++tries > 100000) {
                        mt_fail(__FILE__, __LINE__, "thread %d: mdsm_cas never succeeded", t);
                        break;
                    }
                }
                olds[per + (size_t)t * C_INCS + (size_t)k] = seen;
            }
    }
    MT_EXPECT_OK(mdsm_barrier());
    int64_t final[2] = {-1, -1};
    MT_EXPECT_OK(mdsm_fetch_add(&ctr[0], 0, &final[0]));
    MT_EXPECT_OK(mdsm_fetch_add(&ctr[1], 0, &final[1]));
    MT_EXPECT_EQ(final[0], (int64_t)all_n);
    MT_EXPECT_EQ(final[1], (int64_t)all_n);
    if (me == 0)
        all = calloc(2 * all_n, sizeof(int64_t));
    /* olds is [fetch_add values | cas values]: gather each half. */
    MPI_Gather(olds, (int)per, MPI_INT64_T, all, (int)per, MPI_INT64_T, 0, MPI_COMM_WORLD);
    MPI_Gather(olds + per, (int)per, MPI_INT64_T, all ? all + all_n : NULL, (int)per, MPI_INT64_T,
               0, MPI_COMM_WORLD);
    if (me == 0) {
        MT_EXPECT(all != NULL);
        unsigned char *hit = calloc(all_n, 1);
        for (int op = 0; all && hit && op < 2; op++) {
            memset(hit, 0, all_n);
            long bad = 0;
            for (size_t i = 0; i < all_n; i++) {
                int64_t v = all[(size_t)op * all_n + i];
                if (v < 0 || (size_t)v >= all_n || hit[v]++) {
                    if (bad++ < DC_REPORT_FIRST)
                        mt_fail(__FILE__, __LINE__,
                                "%s: rank %zu thread %zu, operation %zu, returned %lld: %s",
                                op ? "mdsm_cas" : "mdsm_fetch_add", i / per, i % per / C_INCS,
                                i % C_INCS, (long long)v,
                                v < 0 || (size_t)v >= all_n ? "out of 0..N-1"
                                                            : "returned to another operation too");
                }
            }
        }
        free(hit);
    }
    free(all);
    free(olds);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(ctr));
}

/* ---- d. A cache of 4 pages against 32 pages written by 4 threads -------------------- */

enum { D_CACHE_PAGES = 4, D_PAGES = 32, D_ROUNDS = 4 };

static uint64_t d_value(int round, int writer, size_t word)
{
    return round_value(dc_hash3(0xd0d0ULL, (uint64_t)writer, word), round);
}

/* Each rank's team rewrites the D_PAGES pages homed on its neighbour, word i
 * by thread i % NT, each thread starting at a different page, with room for
 * D_CACHE_PAGES remote pages: copies are evicted (dirty ones written home)
 * under the other threads' feet. Each thread reads its own words back; after
 * an omp barrier every thread reads every word of the rank's pages (the
 * other threads' writes, through evictions and refetches); after the mdsm
 * barrier every thread reads every rank's pages. */
MT_TEST(threads, tiny_cache_concurrent_evictions)
{
    exact_teams();
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    /* The smallest cache is 64K and at least 4 pages: 4 pages of 16K. */
    cfg.page_size = 16384;
    cfg.cache_size = D_CACHE_PAGES * cfg.page_size;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    int n = mdsm_nranks(), me = mdsm_rank(), to = (me + 1) % n;
    long ps = mdsm_page_size();
    MT_EXPECT_EQ(ps, 16384);
    size_t wpp = (size_t)ps / sizeof(uint64_t), total = (size_t)n * D_PAGES;
    volatile uint64_t *base = mdsm_alloc(total * (size_t)ps);
    size_t *homed = calloc((size_t)n * D_PAGES, sizeof(size_t)); /* homed[h*D_PAGES + k] */
    int ok = base != NULL && homed != NULL;
    for (int h = 0; ok && h < n; h++)
        ok = dc_pages_homed_on(base, total, h, 1, homed + (size_t)h * D_PAGES, D_PAGES) == D_PAGES;
    if (!dc_all(ok)) {
        mt_fail(__FILE__, __LINE__, "setup failed here or on another rank");
        goto out;
    }
    MT_EXPECT_OK(dc_node_map_init());
    int remote = !dc_shares_home(to); /* this rank's writes go through its cache */
    struct dc_tally tally = {0};
    MT_EXPECT_OK(mdsm_stats_reset());
#define D_WORD(h, k, i) (base + homed[(size_t)(h)*D_PAGES + (k)] * wpp + (i))
#pragma omp parallel num_threads(NT)
    {
        int t = omp_get_thread_num(), ok_team = team_is(NT);
        size_t start = (size_t)t * (D_PAGES / NT);
        for (int r = 0; r < D_ROUNDS; r++) {
            for (size_t j = 0; ok_team && j < D_PAGES; j++) {
                size_t k = (start + j) % D_PAGES;
                for (size_t i = (size_t)t; i < wpp; i += NT)
                    *D_WORD(to, k, i) = d_value(r, me, k * wpp + i);
            }
            for (size_t j = 0; ok_team && j < D_PAGES; j++) {
                size_t k = (start + j) % D_PAGES;
                for (size_t i = (size_t)t; i < wpp; i += NT)
                    if (*D_WORD(to, k, i) != d_value(r, me, k * wpp + i))
                        DC_MISMATCH(&tally,
                                    "round %d: this thread's own write to word %zu of page %zu "
                                    "(home rank %d) reads back %#llx, expected %#llx",
                                    r, i, homed[(size_t)to * D_PAGES + k], to,
                                    (unsigned long long)*D_WORD(to, k, i),
                                    (unsigned long long)d_value(r, me, k * wpp + i));
            }
#pragma omp barrier
            for (size_t j = 0; ok_team && j < D_PAGES; j++) {
                size_t k = (start + D_PAGES - j) % D_PAGES; /* the other way round */
                for (size_t i = 0; i < wpp; i++)
                    if (*D_WORD(to, k, i) != d_value(r, me, k * wpp + i))
                        DC_MISMATCH(&tally,
                                    "round %d, after the team's omp barrier: word %zu of page "
                                    "%zu (home rank %d), written by thread %zu of this rank, "
                                    "reads %#llx, expected %#llx",
                                    r, i, homed[(size_t)to * D_PAGES + k], to, i % NT,
                                    (unsigned long long)*D_WORD(to, k, i),
                                    (unsigned long long)d_value(r, me, k * wpp + i));
            }
            TEAM_BARRIER();
            for (int w = 0; ok_team && w < n; w++) {
                int h = (w + 1) % n;
                for (size_t j = 0; j < D_PAGES; j++) {
                    size_t k = (start + j) % D_PAGES;
                    for (size_t i = (size_t)t; i < wpp; i += NT)
                        if (*D_WORD(h, k, i) != d_value(r, w, k * wpp + i))
                            DC_MISMATCH(&tally,
                                        "round %d, after the barrier: word %zu of page %zu (home "
                                        "rank %d), written by rank %d thread %zu, reads %#llx, "
                                        "expected %#llx",
                                        r, i, homed[(size_t)h * D_PAGES + k], h, w, i % NT,
                                        (unsigned long long)*D_WORD(h, k, i),
                                        (unsigned long long)d_value(r, w, k * wpp + i));
                }
            }
            TEAM_BARRIER();
        }
    }
#undef D_WORD
    DC_TALLY_END(&tally, "tiny cache");
    mdsm_stats_t st;
    MT_EXPECT_OK(mdsm_stats_get(&st));
    MT_EXPECT_EQ(st.barriers, 2 * D_ROUNDS);
    if (remote) {
        /* D_PAGES remote pages through D_CACHE_PAGES slots, every round. */
        if (st.evictions < (uint64_t)D_ROUNDS * (D_PAGES - D_CACHE_PAGES))
            mt_fail(__FILE__, __LINE__,
                    "%d rounds over %d remote pages with room for %d: expected at least %d "
                    "evictions; " STATS_FMT,
                    D_ROUNDS, D_PAGES, D_CACHE_PAGES, D_ROUNDS * (D_PAGES - D_CACHE_PAGES),
                    STATS_ARGS(st));
        MT_EXPECT(st.evictions > 0);
        MT_EXPECT(st.diffs > 0);
    } else {
        MT_EXPECT_EQ(st.evictions, 0);
    }
    MT_EXPECT_OK(mdsm_barrier());
out:
    if (base)
        MT_EXPECT_OK(mdsm_free((void *)base));
    free(homed);
    MT_EXPECT_OK(mdsm_finalize());
}

/* ---- e. Seeded random programs, two threads per rank, against a model -------------- */

/*
 * As test_stress.c, with agents instead of ranks: agent a = rank * 2 + thread.
 * A seed fixes every agent's program: phases separated by barriers, each a
 * random mix of lock operations (under lock k check region k against its
 * header and rewrite a few chunks; two locks in id order sometimes), writes
 * of the barrier-area bytes the agent owns in the phase, reads of those and
 * of bytes nobody owns, and fences (mdsm_release, mdsm_acquire). Byte owners
 * are a function of (seed, phase, byte) and every rank replays every agent's
 * program, so after each barrier every thread of every rank knows every byte.
 */
enum { E_T = 2, E_K = 8, E_CHUNK = 64, E_PICK = 3, E_RANGE = 512 };

struct e_params {
    int a_pages, b_pages, phases, ops;
};

enum e_type { E_LOCK1, E_LOCK2, E_WRITE, E_READ, E_RELEASE, E_ACQUIRE };

struct e_op {
    enum e_type type;
    int k[2], npick, pick[2][E_PICK];
    size_t start, len;
};

struct e_world {
    uint64_t seed;
    int n, me, agents, phase;
    long ps;
    size_t a_bytes, b_bytes, nch, hdr_stride;
    volatile uint8_t *a, *b, *h;
    uint8_t *model;                 /* the barrier area after the phase's barrier */
    uint16_t *owner;                /* agent owning each byte in this phase (agents: none) */
    uint8_t *written[E_T];          /* bytes each thread of this rank wrote in this phase */
    uint64_t expect_ops[E_K];       /* lock operations on each region so far, all agents */
    uint64_t my_last_ops[E_T][E_K]; /* the count each thread of this rank left in each region */
    struct e_op *plans[E_T];        /* each thread's own program for the phase */
    struct e_op *replay;            /* scratch for replaying others' programs */
    struct dc_tally tally;
};

static int e_lock(int k)
{
    return 3 + 5 * k;
}

static size_t e_chunk_offset(int k, size_t c)
{
    return (c * E_K + (size_t)k) * E_CHUNK;
}

static uint8_t e_a_byte(uint64_t seed, int k, uint64_t version, size_t off)
{
    return version == 0 ? 0
                        : (uint8_t)dc_hash3(seed ^ 0xe1e1ULL, ((uint64_t)k << 40) | version, off);
}

static uint8_t e_b_val(uint64_t seed, int phase, size_t j)
{
    return (uint8_t)dc_hash3(seed ^ 0xe2e2ULL, (uint64_t)phase, j);
}

static volatile uint64_t *e_hdr_ops(struct e_world *w, int k)
{
    return (volatile uint64_t *)(w->h + (size_t)k * w->hdr_stride);
}

static volatile uint32_t *e_hdr_stamps(struct e_world *w, int k)
{
    return (volatile uint32_t *)(w->h + (size_t)k * w->hdr_stride + sizeof(uint64_t));
}

static void e_plan(const struct e_world *w, int agent, const struct e_params *p, struct e_op *ops)
{
    uint64_t s = dc_hash3(w->seed, (uint64_t)w->phase, 0x7700ULL + (uint64_t)agent);
    for (int i = 0; i < p->ops; i++) {
        struct e_op *o = &ops[i];
        uint64_t t = dc_below(&s, 12);
        o->type = t < 3    ? E_LOCK1
                  : t < 4  ? E_LOCK2
                  : t < 7  ? E_WRITE
                  : t < 10 ? E_READ
                  : t < 11 ? E_RELEASE
                           : E_ACQUIRE;
        o->k[0] = (int)dc_below(&s, E_K);
        o->k[1] = (int)dc_below(&s, E_K);
        o->npick = 1 + (int)dc_below(&s, E_PICK);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < E_PICK; c++)
                o->pick[r][c] = (int)dc_below(&s, w->nch);
        o->start = (size_t)dc_below(&s, w->b_bytes);
        o->len = 1 + (size_t)dc_below(&s, E_RANGE);
        if (o->start + o->len > w->b_bytes)
            o->len = w->b_bytes - o->start;
        if (o->type == E_LOCK2 && o->k[0] == o->k[1])
            o->type = E_LOCK1;
    }
}

static void e_check_region(struct e_world *w, int k, const char *when, int t, int opi)
{
    uint64_t ops = *e_hdr_ops(w, k);
    volatile uint32_t *stamp = e_hdr_stamps(w, k);
    for (size_t c = 0; c < w->nch; c++) {
        uint32_t v = stamp[c];
        if (v > ops) {
            DC_MISMATCH(&w->tally,
                        "seed %llu phase %d thread %d op %d, %s: region %d chunk %zu has version "
                        "%u, beyond the header's count %llu",
                        (unsigned long long)w->seed, w->phase, t, opi, when, k, c, v,
                        (unsigned long long)ops);
            continue;
        }
        size_t off = e_chunk_offset(k, c);
        for (size_t j = off; j < off + E_CHUNK; j++) {
            uint8_t want = e_a_byte(w->seed, k, v, j), seen = w->a[j];
            if (seen != want) {
                DC_MISMATCH(&w->tally,
                            "seed %llu phase %d thread %d op %d, %s: region %d (lock %d) chunk %zu "
                            "byte %zu (page %zu, home rank %d) is %#x, expected %#x of version %u",
                            (unsigned long long)w->seed, w->phase, t, opi, when, k, e_lock(k), c, j,
                            j / (size_t)w->ps, dc_home(&w->a[j]), seen, want, v);
                break;
            }
        }
    }
}

static void e_region_update(struct e_world *w, int t, int k, const int *pick, int npick, int opi)
{
    e_check_region(w, k, "under its lock", t, opi);
    volatile uint64_t *ops = e_hdr_ops(w, k);
    uint64_t cur = *ops;
    if (cur < w->my_last_ops[t][k])
        DC_MISMATCH(&w->tally,
                    "seed %llu phase %d thread %d op %d: region %d's count reads %llu under its "
                    "lock, below the %llu this thread left there",
                    (unsigned long long)w->seed, w->phase, t, opi, k, (unsigned long long)cur,
                    (unsigned long long)w->my_last_ops[t][k]);
    uint64_t v = cur + 1;
    for (int i = 0; i < npick; i++) {
        size_t off = e_chunk_offset(k, (size_t)pick[i]);
        for (size_t j = off; j < off + E_CHUNK; j++)
            w->a[j] = e_a_byte(w->seed, k, v, j);
        e_hdr_stamps(w, k)[pick[i]] = (uint32_t)v;
    }
    *ops = v;
    w->my_last_ops[t][k] = v;
}

static int e_call(struct e_world *w, int t, int opi, int rc, const char *what, int id)
{
    if (rc != MDSM_OK)
        mt_fail(__FILE__, __LINE__, "seed %llu phase %d thread %d op %d: %s(%d) returned %d (%s)",
                (unsigned long long)w->seed, w->phase, t, opi, what, id, rc, mdsm_strerror(rc));
    return rc;
}

static void e_run_op(struct e_world *w, int t, const struct e_op *o, int opi)
{
    int agent = w->me * E_T + t;
    switch (o->type) {
    case E_LOCK1:
        if (e_call(w, t, opi, mdsm_lock(e_lock(o->k[0])), "mdsm_lock", e_lock(o->k[0])) ==
            MDSM_OK) {
            e_region_update(w, t, o->k[0], o->pick[0], o->npick, opi);
            e_call(w, t, opi, mdsm_unlock(e_lock(o->k[0])), "mdsm_unlock", e_lock(o->k[0]));
        }
        break;
    case E_LOCK2: {
        int lo = o->k[0] < o->k[1] ? 0 : 1, hi = 1 - lo;
        if (e_call(w, t, opi, mdsm_lock(e_lock(o->k[lo])), "mdsm_lock", e_lock(o->k[lo])) !=
            MDSM_OK)
            break;
        if (e_call(w, t, opi, mdsm_lock(e_lock(o->k[hi])), "mdsm_lock", e_lock(o->k[hi])) ==
            MDSM_OK) {
            e_region_update(w, t, o->k[0], o->pick[0], o->npick, opi);
            e_region_update(w, t, o->k[1], o->pick[1], o->npick, opi);
            e_call(w, t, opi, mdsm_unlock(e_lock(o->k[hi])), "mdsm_unlock", e_lock(o->k[hi]));
        }
        e_call(w, t, opi, mdsm_unlock(e_lock(o->k[lo])), "mdsm_unlock", e_lock(o->k[lo]));
        break;
    }
    case E_WRITE:
        for (size_t j = o->start; j < o->start + o->len; j++)
            if (w->owner[j] == agent) {
                w->b[j] = e_b_val(w->seed, w->phase, j);
                w->written[t][j] = 1;
            }
        break;
    case E_READ:
        for (size_t j = o->start; j < o->start + o->len; j++) {
            if (w->owner[j] != w->agents && w->owner[j] != agent)
                continue; /* race-free reads only: bytes nobody writes, and mine */
            uint8_t want = w->written[t][j] ? e_b_val(w->seed, w->phase, j) : w->model[j];
            uint8_t seen = w->b[j];
            if (seen != want)
                DC_MISMATCH(&w->tally,
                            "seed %llu phase %d thread %d op %d: in the phase, byte %zu of the "
                            "barrier area (page %zu, home rank %d, %s) is %#x, expected %#x",
                            (unsigned long long)w->seed, w->phase, t, opi, j, j / (size_t)w->ps,
                            dc_home(&w->b[j]),
                            w->owner[j] == agent ? (w->written[t][j] ? "written by this thread"
                                                                     : "this thread's, unwritten")
                                                 : "written by nobody in this phase",
                            seen, want);
        }
        break;
    case E_RELEASE: e_call(w, t, opi, mdsm_release(), "mdsm_release", 0); break;
    case E_ACQUIRE: e_call(w, t, opi, mdsm_acquire(), "mdsm_acquire", 0); break;
    }
}

/* One thread: the model of the phase (owners before, every agent's effects after). */
static void e_replay(struct e_world *w, const struct e_params *p)
{
    for (int q = 0; q < w->agents; q++) {
        e_plan(w, q, p, w->replay);
        for (int i = 0; i < p->ops; i++) {
            const struct e_op *o = &w->replay[i];
            if (o->type == E_LOCK1)
                w->expect_ops[o->k[0]]++;
            if (o->type == E_LOCK2) {
                w->expect_ops[o->k[0]]++;
                w->expect_ops[o->k[1]]++;
            }
            if (o->type == E_WRITE)
                for (size_t j = o->start; j < o->start + o->len; j++)
                    if (w->owner[j] == q)
                        w->model[j] = e_b_val(w->seed, w->phase, j);
        }
    }
}

static void e_run_seed(uint64_t seed, const struct e_params *p)
{
    exact_teams();
    struct e_world w = {.seed = seed, .n = mdsm_nranks(), .me = mdsm_rank()};
    w.agents = w.n * E_T;
    w.ps = mdsm_page_size();
    w.a_bytes = (size_t)p->a_pages * (size_t)w.ps;
    w.b_bytes = (size_t)p->b_pages * (size_t)w.ps;
    w.nch = w.a_bytes / E_CHUNK / E_K;
    w.hdr_stride = (sizeof(uint64_t) + w.nch * sizeof(uint32_t) + 7) / 8 * 8;
    volatile uint8_t *base = mdsm_alloc(w.a_bytes + w.b_bytes + E_K * w.hdr_stride);
    w.model = calloc(w.b_bytes, 1);
    w.owner = calloc(w.b_bytes, sizeof(uint16_t));
    w.replay = calloc((size_t)p->ops, sizeof(struct e_op));
    int ok = base && w.model && w.owner && w.replay;
    for (int t = 0; t < E_T; t++) {
        w.written[t] = calloc(w.b_bytes, 1);
        w.plans[t] = calloc((size_t)p->ops, sizeof(struct e_op));
        ok = ok && w.written[t] && w.plans[t];
    }
    if (!dc_all(ok)) {
        mt_fail(__FILE__, __LINE__, "seed %llu: setup failed here or on another rank",
                (unsigned long long)seed);
        if (base)
            MT_EXPECT_OK(mdsm_free((void *)base));
        goto out;
    }
    w.a = base;
    w.b = base + w.a_bytes;
    w.h = base + w.a_bytes + w.b_bytes;
#pragma omp parallel num_threads(E_T)
    {
        int t = omp_get_thread_num(), ok_team = team_is(E_T);
        for (int phase = 0; phase < p->phases; phase++) {
#pragma omp single
            {
                w.phase = phase;
                for (size_t j = 0; j < w.b_bytes; j++)
                    w.owner[j] = (uint16_t)(dc_hash3(seed ^ 0x0e0eULL, (uint64_t)phase, j) %
                                            (uint64_t)(w.agents + 1));
            } /* implicit barrier: owners are set before anyone runs */
            memset(w.written[t], 0, w.b_bytes);
            if (ok_team) {
                e_plan(&w, w.me * E_T + t, p, w.plans[t]);
                for (int i = 0; i < p->ops; i++) {
                    e_run_op(&w, t, &w.plans[t][i], i);
                    if (i % 8 == 7)
                        sched_yield();
                }
            }
#pragma omp barrier
#pragma omp single
            {
                e_replay(&w, p);
                MT_EXPECT_OK(mdsm_barrier());
            }
            /* Both threads check: bytes split between them, regions too. */
            for (size_t j = (size_t)t; j < w.b_bytes; j += E_T) {
                uint8_t seen = w.b[j];
                if (seen != w.model[j])
                    DC_MISMATCH(&w.tally,
                                "seed %llu phase %d thread %d: after the barrier byte %zu of the "
                                "barrier area (page %zu, home rank %d, owner in this phase: %s "
                                "%d) is %#x, expected %#x",
                                (unsigned long long)seed, phase, t, j, j / (size_t)w.ps,
                                dc_home(&w.b[j]), w.owner[j] == w.agents ? "none, was" : "agent",
                                w.owner[j] == w.agents ? -1 : w.owner[j], seen, w.model[j]);
            }
            for (int k = t; k < E_K; k += E_T) {
                uint64_t ops_seen = *e_hdr_ops(&w, k);
                if (ops_seen != w.expect_ops[k])
                    DC_MISMATCH(&w.tally,
                                "seed %llu phase %d thread %d: after the barrier region %d (lock "
                                "%d, header home rank %d) counts %llu lock operations, expected "
                                "%llu",
                                (unsigned long long)seed, phase, t, k, e_lock(k),
                                dc_home(e_hdr_ops(&w, k)), (unsigned long long)ops_seen,
                                (unsigned long long)w.expect_ops[k]);
                e_check_region(&w, k, "after the barrier", t, -1);
            }
            TEAM_BARRIER(); /* the checks end before the next phase writes */
        }
    }
    if (w.tally.bad > DC_REPORT_FIRST)
        mt_fail(__FILE__, __LINE__, "seed %llu: %ld mismatches in all (first %d shown)",
                (unsigned long long)seed, w.tally.bad, DC_REPORT_FIRST);
    MT_EXPECT_OK(mdsm_free((void *)base));
out:
    free(w.model);
    free(w.owner);
    free(w.replay);
    for (int t = 0; t < E_T; t++) {
        free(w.written[t]);
        free(w.plans[t]);
    }
}

/* MT_SEED=<n> runs that seed instead of the fixed ones. */
static int e_seeds(uint64_t *out)
{
    const char *env = getenv("MT_SEED");
    if (env && *env) {
        char *end;
        out[0] = strtoull(env, &end, 0);
        if (*end == '\0')
            return 1;
        mt_fail(__FILE__, __LINE__, "MT_SEED='%s' is not a number; using the default seeds", env);
    }
    static const uint64_t fixed[] = {7, 0x7417eadULL, 20250101ULL};
    memcpy(out, fixed, sizeof(fixed));
    return (int)(sizeof(fixed) / sizeof(fixed[0]));
}

MT_MDSM_TEST(threads, random_programs_two_threads)
{
    struct e_params p = {.a_pages = 3, .b_pages = 4, .phases = 10, .ops = 30};
    uint64_t list[3];
    int count = e_seeds(list);
    for (int i = 0; i < count; i++)
        e_run_seed(list[i], &p);
}

/* Smallest cache, cyclic homes, two-OS-page coherence unit: the barrier area
 * is twice the cache, so the checks evict under the other thread. */
MT_TEST(threads, random_programs_two_threads_small_cache_cyclic)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.cache_size = 64 * 1024;
    cfg.page_size = 2 * (size_t)sysconf(_SC_PAGESIZE);
    cfg.distribution = MDSM_DIST_CYCLIC;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    struct e_params p = {
        .a_pages = 3, .b_pages = (int)(128 * 1024 / cfg.page_size), .phases = 6, .ops = 30};
    uint64_t list[3];
    int count = e_seeds(list);
    for (int i = 0; i < count; i++)
        e_run_seed(list[i], &p);
    MT_EXPECT_OK(mdsm_finalize());
}

/* ---- f. Misuse: per-thread errors, collectives from two threads --------------------- */

/* mdsm_last_error and its message belong to the calling thread. */
MT_MDSM_TEST(threads, last_error_is_per_thread)
{
    exact_teams();
    int nl = mdsm_num_locks();
#pragma omp parallel num_threads(NT)
    {
        int t = omp_get_thread_num(), bad = nl + t; /* a different bad id per thread */
        MT_EXPECT_RC(mdsm_lock(bad), MDSM_ERR_LOCK_ID);
#pragma omp barrier
        MT_EXPECT_RC(mdsm_last_error(), MDSM_ERR_LOCK_ID);
        char want[32];
        snprintf(want, sizeof(want), "(%d)", bad);
        const char *msg = mdsm_last_error_message();
        if (!msg || !strstr(msg, want))
            mt_fail(__FILE__, __LINE__,
                    "thread %d: mdsm_last_error_message() is '%s', expected this thread's "
                    "mdsm_lock(%d)",
                    t, msg ? msg : "(null)", bad);
    }
}

/* One round of the check. Every rank but the last makes collective call
 * `kind` on thread 0 while thread 1, 0.2 s after thread 0 said it is calling,
 * makes the same call: thread 0 is inside it by then, waiting for the last
 * rank, so thread 1's call must be refused at once; thread 1 then tries the
 * other collectives, refused too, and tells the last rank (a message) that it
 * is done, and only then does the last rank make its call. Should thread 0
 * have been kept from its call for 0.2 s (a scheduling accident), thread 1's
 * call is the one that proceeds and thread 0's is refused: the contract
 * allows it, the rank still makes one call, and thread 1 tries nothing else. */
enum { F_BARRIER, F_ALLOC, F_TAG = 7310 };

struct f_run {
    int kind;          /* F_BARRIER or F_ALLOC: the collective the ranks make */
    void *existing;    /* a live allocation thread 1 tries to free */
    int rc[2];         /* the call on thread 0 and on thread 1 */
    void *got[2];      /* what each one's mdsm_alloc returned */
    int early;         /* thread 0's call had returned before thread 1 made its own */
    int other_rc[3];   /* thread 1's mdsm_barrier, mdsm_alloc, mdsm_free meanwhile */
    void *other_alloc; /* what that mdsm_alloc returned */
    int waited;        /* thread 1's calls returned only after thread 0's had */
    void *allocated;   /* the rank's allocation (F_ALLOC) */
};

static const char *f_name(int kind)
{
    return kind == F_BARRIER ? "mdsm_barrier" : "mdsm_alloc";
}

static int f_call(int kind, void **got)
{
    if (kind == F_BARRIER)
        return mdsm_barrier();
    *got = mdsm_alloc(4096);
    return *got ? MDSM_OK : mdsm_last_error();
}

/* The last rank: waits (bounded) for every other rank's thread 1, then calls. */
static void f_last_rank(struct f_run *f)
{
    int others = mdsm_nranks() - 1, done = 0;
    MPI_Request *req = calloc((size_t)others, sizeof(*req));
    MPI_Status *st = calloc((size_t)others, sizeof(*st)); /* MPICH: no STATUSES_IGNORE here */
    int *token = calloc((size_t)others, sizeof(*token));
    if (!req || !st || !token)
        abort();
    for (int r = 0; r < others; r++)
        MPI_Irecv(&token[r], 1, MPI_INT, r, F_TAG, MPI_COMM_WORLD, &req[r]);
    double give_up = dc_now() + DC_WAIT_LIMIT_S / 3;
    while (!done && dc_now() < give_up) {
        MPI_Testall(others, req, &done, st);
        if (!done)
            dc_sleep_until(dc_now() + 0.001);
    }
    f->rc[0] = f_call(f->kind, &f->got[0]);
    MT_EXPECT_OK(f->rc[0]);
    f->allocated = f->got[0];
    if (!done) /* a thread 1 whose call proceeds reports once it has returned */
        MPI_Waitall(others, req, st);
    free(req);
    free(st);
    free(token);
}

static void f_round(struct f_run *f)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    MT_EXPECT_OK(mdsm_barrier()); /* start together */
    if (me == n - 1) {
        f_last_rank(f);
        return;
    }
    int calling = 0, returned = 0;
#pragma omp parallel num_threads(2)
    {
        if (team_is(2) && omp_get_thread_num() == 0) {
            set_flag(&calling, 1);
            f->rc[0] = f_call(f->kind, &f->got[0]);
            set_flag(&returned, 1);
        } else if (omp_get_num_threads() == 2) {
            if (!wait_flag(&calling, 1))
                mt_fail(__FILE__, __LINE__, "thread 0 did not start within %.0f s",
                        DC_WAIT_LIMIT_S);
            dc_sleep_until(dc_now() + 0.2); /* thread 0 is inside, waiting for the last rank */
            f->early = __atomic_load_n(&returned, __ATOMIC_ACQUIRE);
            f->rc[1] = f_call(f->kind, &f->got[1]);
            if (f->rc[1] == MDSM_ERR_CONCURRENT) {
                /* Thread 0 is inside, and stays until the last rank calls:
                 * after our message. */
                f->other_rc[0] = mdsm_barrier();
                f->other_alloc = mdsm_alloc(4096);
                f->other_rc[1] = f->other_alloc ? MDSM_OK : mdsm_last_error();
                f->other_rc[2] = mdsm_free(f->existing);
                f->waited = __atomic_load_n(&returned, __ATOMIC_ACQUIRE);
            }
            int token = 1;
            MPI_Send(&token, 1, MPI_INT, n - 1, F_TAG, MPI_COMM_WORLD);
        }
    }
    const char *call = f_name(f->kind);
    if (f->rc[0] == MDSM_OK && f->rc[1] == MDSM_ERR_CONCURRENT) {
        f->allocated = f->got[0];
        MT_EXPECT(f->got[1] == NULL);
        MT_EXPECT_RC(f->other_rc[0], MDSM_ERR_CONCURRENT);
        MT_EXPECT_RC(f->other_rc[1], MDSM_ERR_CONCURRENT);
        MT_EXPECT(f->other_alloc == NULL);
        MT_EXPECT_RC(f->other_rc[2], MDSM_ERR_CONCURRENT);
        if (f->waited)
            mt_fail(__FILE__, __LINE__,
                    "thread 1's refused calls returned only after thread 0's %s had: they must "
                    "return at once, not wait",
                    call);
    } else if (f->rc[0] == MDSM_ERR_CONCURRENT && f->rc[1] == MDSM_OK && !f->early) {
        f->allocated = f->got[1];
        fprintf(stderr,
                "[rank %d] note: thread 0 was not yet inside %s 0.2 s after it said it was "
                "calling: thread 1's call proceeded and thread 0's was refused; the refusals of "
                "the other calls were not tried\n",
                me, call);
    } else {
        f->allocated = f->rc[0] == MDSM_OK ? f->got[0] : f->got[1];
        mt_fail(__FILE__, __LINE__,
                "%s on thread 0 returned %d (%s), on thread 1 (made %s thread 0's had "
                "returned) %d (%s): expected one to succeed and the other to get %d "
                "(MDSM_ERR_CONCURRENT)",
                call, f->rc[0], mdsm_strerror(f->rc[0]), f->early ? "after" : "before", f->rc[1],
                mdsm_strerror(f->rc[1]), MDSM_ERR_CONCURRENT);
    }
}

/* While thread 0 is inside mdsm_barrier (or mdsm_alloc), thread 1's
 * mdsm_barrier, mdsm_alloc and mdsm_free return MDSM_ERR_CONCURRENT at once
 * and change nothing; thread 0's call completes as usual, and every rank then
 * meets in matching barriers. */
MT_MDSM_TEST(threads, collective_from_second_thread_is_refused)
{
    exact_teams();
    volatile int64_t *existing = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(existing != NULL);
    for (int kind = F_BARRIER; kind <= F_ALLOC; kind++) {
        struct f_run f = {.kind = kind, .existing = (void *)existing};
        f_round(&f);
        if (kind == F_ALLOC) {
            /* The one allocation made is the same on every rank and usable. */
            uintptr_t mine = (uintptr_t)f.allocated, lo = 0, hi = 0;
            MPI_Allreduce(&mine, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
            MPI_Allreduce(&mine, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
            MT_EXPECT(lo == hi && lo != 0);
            if (dc_all(lo == hi && lo != 0))
                MT_EXPECT_OK(mdsm_free(f.allocated));
        }
        MT_EXPECT(mdsm_home_of((const void *)existing) >= 0); /* not freed by thread 1 */
        MT_EXPECT_OK(mdsm_barrier());
    }
    /* Still a working allocation and a working barrier. */
    if (mdsm_rank() == 0)
        *existing = 42;
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(*existing, 42);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)existing));
}

/* A release announces writes that another thread's barrier published first.
 * On the last rank, thread 1 writes X (homed there, cached by rank 0) while
 * thread 0 enters mdsm_barrier, whose release publishes X's notice; thread 1
 * then calls mdsm_release, which finds nothing left to publish, and raises a
 * flag. On rank 0, thread 1 sees the flag and acquires before its thread 0
 * enters the barrier: the acquire must read X = 5, so the release must have
 * moved the release epoch even though the barrier published for it. */
MT_MDSM_TEST(threads, release_announces_what_a_barrier_published_for_it)
{
    int n = mdsm_nranks(), me = mdsm_rank(), writer = n - 1;
    size_t ps = (size_t)mdsm_page_size();
    char *mem = mdsm_alloc((size_t)n * ps); /* page r homed on rank r */
    MT_ASSERT(mem != NULL);
    volatile int64_t *x = (volatile int64_t *)(mem + (size_t)writer * ps);
    int64_t *flag = (int64_t *)(void *)(mem + 64); /* on rank 0's page */
    MT_EXPECT_EQ(x[0], 0);                         /* cached */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_acquire()); /* reads the release epoch */
    MPI_Barrier(MPI_COMM_WORLD);
    int step = 0;
    double deadline = dc_now() + DC_WAIT_LIMIT_S;
    if (n > 1 && me == writer) {
#pragma omp parallel num_threads(2)
        {
            if (omp_get_thread_num() == 0) {
                while (!__atomic_load_n(&step, __ATOMIC_ACQUIRE) && dc_now() < deadline)
                    sched_yield();
                MT_EXPECT_OK(mdsm_barrier()); /* publishes X's notice, announces nothing */
            } else {
                x[0] = 5;
                __atomic_store_n(&step, 1, __ATOMIC_RELEASE);
                dc_sleep_until(dc_now() + 0.3); /* the barrier has published by now */
                MT_EXPECT_OK(mdsm_release());
                MT_EXPECT_OK(mdsm_fetch_add(flag, 1, NULL));
            }
        }
    } else if (n > 1 && me == 0) {
#pragma omp parallel num_threads(2)
        {
            if (omp_get_thread_num() == 1) {
                int64_t f = 0;
                while (f == 0 && dc_now() < deadline)
                    MT_EXPECT_OK(mdsm_fetch_add(flag, 0, &f));
                MT_EXPECT_EQ(f, 1);
                MT_EXPECT_OK(mdsm_acquire());
                if (x[0] != 5)
                    mt_fail(__FILE__, __LINE__,
                            "after the flag and mdsm_acquire X (home rank %d) reads %lld, "
                            "expected 5 released by rank %d",
                            writer, (long long)x[0], writer);
                __atomic_store_n(&step, 1, __ATOMIC_RELEASE);
            } else {
                while (!__atomic_load_n(&step, __ATOMIC_ACQUIRE) && dc_now() < deadline)
                    sched_yield();
                MT_EXPECT_OK(mdsm_barrier());
            }
        }
    } else {
        MT_EXPECT_OK(mdsm_barrier());
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(mem));
}
