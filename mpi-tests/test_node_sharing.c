/*
 * Two-level memory (issue 9): ranks of one node that share home memory
 * (MDSM_NODE_SHARING=on, the default) read and write each other's home pages
 * in place: no read fault, no fetch, no diff, and a write is seen by the other
 * local ranks at once. Ranks that do not share (other hosts, or
 * MDSM_NODE_SHARING=off) keep the per-rank protocol: a read fault and a fetch
 * per first access, visibility after synchronisation.
 *
 * Every expectation is taken from the placement (node_check.h), never from the
 * rank count: the same bodies run on one node, with sharing off, and on
 * simulated hosts (ranks round-robin over hosts).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

static int64_t ns_value(uint64_t page, uint64_t word, uint64_t round)
{
    return (int64_t)(dc_hash3(page, word, round) >> 1) | 1; /* never 0: unwritten reads 0 */
}

static volatile int64_t *page_words(volatile char *base, size_t page)
{
    return (volatile int64_t *)(base + page * (size_t)mdsm_page_size());
}

/* Every rank starts the body with the session's node map. */
#define NS_BEGIN() MT_EXPECT_OK(dc_node_map_init())

/* ---- a. reads of a neighbour's home pages ------------------------------------ */

enum { NS_READ_PAGES = 256 };

/* Rank r reads NS_READ_PAGES pages homed on rank (r+1) % n: in place (no
 * fault, no fetch) when it shares home memory with that rank, otherwise one
 * fetch per page, exactly, each page either read-faulted or prefetched with
 * the fault before it (the reads are in address order). At np1 the home is
 * itself. */
MT_MDSM_TEST(node_sharing, reads_of_a_neighbours_pages_do_not_fault)
{
    NS_BEGIN();
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    size_t npages = (size_t)n * NS_READ_PAGES;
    volatile char *base = mdsm_alloc(npages * (size_t)ps);
    MT_ASSERT(base != NULL);
    size_t words = (size_t)ps / sizeof(int64_t);

    /* Each home writes the first and the last word of every page it homes. */
    for (size_t p = 0; p < npages; p++) {
        if (dc_home(base + p * (size_t)ps) != me)
            continue;
        page_words(base, p)[0] = ns_value(p, 0, 0);
        page_words(base, p)[words - 1] = ns_value(p, 1, 0);
    }
    MT_EXPECT_OK(mdsm_barrier());

    int home = (me + 1) % n;
    size_t list[NS_READ_PAGES];
    size_t k = dc_pages_homed_on(base, npages, home, 1, list, NS_READ_PAGES);
    MT_EXPECT_EQ(k, NS_READ_PAGES);
    int shares = dc_shares_home(home);
    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    struct dc_tally tally = {0};
    for (size_t i = 0; i < k; i++) {
        int64_t first = page_words(base, list[i])[0], last = page_words(base, list[i])[words - 1];
        if (first != ns_value(list[i], 0, 0) || last != ns_value(list[i], 1, 0))
            DC_MISMATCH(&tally,
                        "page %zu (home rank %d, which this rank %s) reads %lld / %lld, expected "
                        "%lld / %lld",
                        list[i], home, dc_share_word(home), (long long)first, (long long)last,
                        (long long)ns_value(list[i], 0, 0), (long long)ns_value(list[i], 1, 0));
    }
    DC_TALLY_END(&tally, "reads of the neighbour's pages");
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    uint64_t want = shares ? 0 : (uint64_t)k;
    uint64_t faults = s1.read_faults - s0.read_faults,
             prefetched = s1.pages_prefetched - s0.pages_prefetched;
    if (faults + prefetched != want || s1.pages_fetched - s0.pages_fetched != want)
        mt_fail(
            __FILE__, __LINE__,
            "reading %zu pages homed on rank %d (node %d; this rank node %d, %s; node_sharing "
            "%d): %llu read faults, %llu pages prefetched and %llu pages fetched, expected "
            "%llu fetched, each faulted or prefetched",
            k, home, dc_node_map_()->node[home], dc_node_map_()->node[me], dc_share_word(home),
            dc_node_map_()->sharing[me], (unsigned long long)faults, (unsigned long long)prefetched,
            (unsigned long long)(s1.pages_fetched - s0.pages_fetched), (unsigned long long)want);
    MT_EXPECT_EQ(s1.diffs - s0.diffs, 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

/* ---- b. visibility: at once on the node, after synchronisation elsewhere ------ */

enum { NS_LOCK = 3 };

static void expect_word(volatile int64_t *w, int64_t want, const char *when, const char *what)
{
    int64_t v = *w;
    if (v != want)
        mt_fail(__FILE__, __LINE__, "%s: %s (home rank %d) reads %lld, expected %lld", when, what,
                dc_home(w), (long long)v, (long long)want);
}

/* Rank 0 writes a page homed on itself and one homed on a rank it shares home
 * memory with (the lowest such neighbour, else itself again). The ranks that
 * share home memory with rank 0 read both with plain loads after only an
 * MPI_Barrier, without read faults; every rank reads them after mdsm_barrier.
 * Then a lock handover: rank 0 writes under lock 3, every other rank takes
 * the lock in turn, sees rank 0's value and adds its own slot; after
 * mdsm_barrier every rank sees every slot. */
MT_MDSM_TEST(node_sharing, local_writes_seen_at_once_remote_after_sync)
{
    NS_BEGIN();
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    MT_ASSERT(mdsm_num_locks() > NS_LOCK);
    size_t npages = (size_t)n * 4;
    volatile char *base = mdsm_alloc(npages * (size_t)ps);
    MT_ASSERT(base != NULL);

    int h = 0;
    for (int r = 1; r < n && h == 0; r++)
        if (dc_ranks_share(0, r))
            h = r;
    size_t own[2], nb[2];
    size_t nown = dc_pages_homed_on(base, npages, 0, 1, own, 2);
    size_t nnb = dc_pages_homed_on(base, npages, h, 1, nb, 2);
    MT_ASSERT(dc_all(nown == 2 && nnb == 2));
    volatile int64_t *a = page_words(base, own[0]);
    volatile int64_t *b = page_words(base, h == 0 ? own[1] : nb[0]);
    const int64_t v1 = ns_value(1, 2, 3), v2 = ns_value(4, 5, 6);

    if (me == 0) {
        a[0] = v1;
        b[0] = v1 + 1;
    }
    MPI_Barrier(MPI_COMM_WORLD); /* orders the test only: no mdsm synchronisation */
    if (me != 0 && dc_ranks_share(me, 0) && dc_ranks_share(me, h)) {
        mdsm_stats_t s0, s1;
        MT_EXPECT_OK(mdsm_stats_get(&s0));
        expect_word(a, v1, "after MPI_Barrier only, on rank 0's node", "rank 0's own page");
        expect_word(b, v1 + 1, "after MPI_Barrier only, on rank 0's node",
                    "a page homed on rank 0's neighbour");
        MT_EXPECT_OK(mdsm_stats_get(&s1));
        MT_EXPECT_EQ(s1.read_faults - s0.read_faults, 0);
        MT_EXPECT_EQ(s1.pages_fetched - s0.pages_fetched, 0);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MT_EXPECT_OK(mdsm_barrier());
    expect_word(a, v1, "after mdsm_barrier", "rank 0's own page");
    expect_word(b, v1 + 1, "after mdsm_barrier", "the page homed on rank 0's neighbour");

    /* Lock handover: slots on a page homed on the last rank. */
    size_t q_page = 0;
    MT_ASSERT(dc_all(dc_pages_homed_on(base, npages, n - 1, 1, &q_page, 1) == 1));
    volatile int64_t *q = page_words(base, q_page);
    if (me == 0) {
        MT_EXPECT_OK(mdsm_lock(NS_LOCK));
        q[0] = v2;
        MT_EXPECT_OK(mdsm_unlock(NS_LOCK));
    }
    MPI_Barrier(MPI_COMM_WORLD); /* rank 0 held the lock first */
    if (me != 0) {
        MT_EXPECT_OK(mdsm_lock(NS_LOCK));
        expect_word(q, v2, "under lock 3 after rank 0's unlock", "rank 0's slot");
        for (int s = 1; s < n; s++) {
            int64_t v = q[s];
            if (s != me && v != 0 && v != v2 + s)
                mt_fail(__FILE__, __LINE__,
                        "under lock 3: slot %d (home rank %d) reads %lld, expected 0 (not yet "
                        "written) or %lld",
                        s, dc_home(q), (long long)v, (long long)(v2 + s));
        }
        q[me] = v2 + me;
        MT_EXPECT_OK(mdsm_unlock(NS_LOCK));
    }
    MT_EXPECT_OK(mdsm_barrier());
    for (int s = 0; s < n; s++) {
        char what[64];
        snprintf(what, sizeof(what), "slot %d", s);
        expect_word(&q[s], s == 0 ? v2 : v2 + s, "after the handovers and mdsm_barrier", what);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

/* ---- c. false sharing between local and remote writers ----------------------- */

enum { NS_FS_ROUNDS = 6 };

static uint8_t fs_byte(int round, size_t i)
{
    return (uint8_t)(1 + ((unsigned)round * 37u + (unsigned)i * 13u) % 255u);
}

/* One page per round (its home rotating over the ranks): rank r writes bytes
 * r, r+n, r+2n, ... in the same interval as everyone else, then mdsm_barrier,
 * and every rank checks every byte. Local (in place) and remote (twin and
 * diff) writers mix on one page wherever the placement puts them. */
MT_MDSM_TEST(node_sharing, false_sharing_local_and_remote_writer_bytes)
{
    NS_BEGIN();
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size();
    volatile uint8_t *base = mdsm_alloc((size_t)n * ps);
    MT_ASSERT(base != NULL);
    for (int round = 0; round < NS_FS_ROUNDS; round++) {
        volatile uint8_t *page = base + (size_t)(round % n) * ps;
        for (size_t i = (size_t)me; i < ps; i += (size_t)n)
            page[i] = fs_byte(round, i);
        MT_EXPECT_OK(mdsm_barrier());
        struct dc_tally tally = {0};
        for (size_t i = 0; i < ps; i++)
            if (page[i] != fs_byte(round, i))
                DC_MISMATCH(&tally,
                            "round %d: byte %zu (written by rank %zu, page home rank %d) is %#x, "
                            "expected %#x",
                            round, i, i % (size_t)n, dc_home(page), page[i], fs_byte(round, i));
        DC_TALLY_END(&tally, "false sharing check");
        MT_EXPECT_OK(mdsm_barrier());
    }
    MT_EXPECT_OK(mdsm_free((void *)base));
}

/* ---- d. node_write_faults ------------------------------------------------------ */

enum { NS_WF_PAGES = 16, NS_WF_PER_RANK = 4 * NS_WF_PAGES };

/* Writes words w and w+1 of each listed page (the second write is not a new
 * first write) and returns the counter changes. */
static void write_pages(volatile char *base, const size_t *list, size_t k, int w, int64_t round,
                        mdsm_stats_t *d)
{
    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    for (size_t i = 0; i < k; i++) {
        page_words(base, list[i])[w] = ns_value(list[i], (uint64_t)w, (uint64_t)round);
        page_words(base, list[i])[w + 1] = ns_value(list[i], (uint64_t)w + 1, (uint64_t)round);
    }
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    d->read_faults = s1.read_faults - s0.read_faults;
    d->write_faults = s1.write_faults - s0.write_faults;
    d->node_write_faults = s1.node_write_faults - s0.node_write_faults;
}

static void expect_counts(const mdsm_stats_t *d, uint64_t reads, uint64_t writes, uint64_t node,
                          const char *what)
{
    if (d->read_faults != reads || d->write_faults != writes || d->node_write_faults != node)
        mt_fail(__FILE__, __LINE__,
                "%s: read_faults %llu, write_faults %llu, node_write_faults %llu; expected %llu, "
                "%llu, %llu",
                what, (unsigned long long)d->read_faults, (unsigned long long)d->write_faults,
                (unsigned long long)d->node_write_faults, (unsigned long long)reads,
                (unsigned long long)writes, (unsigned long long)node);
}

/* node_write_faults counts first writes in an interval to pages homed on this
 * rank's node that it must notice: its own home pages once a rank of another
 * node has fetched them (with sharing off its node's home memory is its own),
 * a neighbour's when they share home memory. Pages are written one apart
 * (every other page homed on the rank), because mdsm opens runs of adjacent
 * home pages for writing at once.
 *   1. own pages, NS_WF_PAGES of them, twice in one interval, and again in the
 *      next: no fault at all, since no other rank has fetched them;
 *   2. pages homed on rank (r+1) % n: N write faults, and N node write faults
 *      and no read fault if it shares home memory with it, else 0 node write
 *      faults and N read faults (the first write fetches the page);
 *   3. after two barriers (the fetches of 2 are over at the first; the second
 *      releases), each rank has counted N shared home pages, and its own pages
 *      take N write faults and N node write faults, unless rank (r-1) % n
 *      shares its home memory (it wrote them in place: nobody fetched them).
 * Where writes are untracked (every rank on one sharing node: nothing can hold
 * a stale copy), home pages are read-write for good and none of these faults.
 * Every rank then checks every written word. */
MT_MDSM_TEST(node_sharing, node_write_faults_counted)
{
    NS_BEGIN();
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    size_t npages = (size_t)n * NS_WF_PER_RANK;
    volatile char *base = mdsm_alloc(npages * (size_t)ps);
    MT_ASSERT(base != NULL);
    size_t(*lists)[NS_WF_PAGES] = calloc((size_t)n, sizeof(*lists));
    MT_ASSERT(lists != NULL);
    int complete = 1;
    for (int r = 0; r < n; r++)
        complete &= dc_pages_homed_on(base, npages, r, 2, lists[r], NS_WF_PAGES) == NS_WF_PAGES;
    MT_EXPECT(complete);
    int nb = (me + 1) % n, prev = (me + n - 1) % n;
    char what[160];
    mdsm_stats_t d;

    MT_EXPECT_OK(mdsm_barrier());
    for (int interval = 0; interval < 2; interval++) {
        write_pages(base, lists[me], NS_WF_PAGES, 0, interval, &d);
        snprintf(what, sizeof(what), "interval %d: %d pages homed on this rank, written twice",
                 interval, NS_WF_PAGES);
        expect_counts(&d, 0, 0, 0, what);
        MT_EXPECT_OK(mdsm_barrier());
    }

    int shares = dc_shares_home(nb);
    write_pages(base, lists[nb], NS_WF_PAGES, 2, 7, &d);
    snprintf(what, sizeof(what), "%d pages homed on rank %d, which this rank %s", NS_WF_PAGES, nb,
             dc_share_word(nb));
    uint64_t nb_writes = shares && dc_writes_untracked() ? 0 : NS_WF_PAGES;
    expect_counts(&d, shares ? 0 : NS_WF_PAGES, nb_writes, shares ? nb_writes : 0, what);

    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    uint64_t own_faults = dc_shares_home(prev) ? 0 : NS_WF_PAGES;
    if (s1.shared_home_pages - s0.shared_home_pages != own_faults)
        mt_fail(__FILE__, __LINE__, "%llu of this rank's home pages became shared; expected %llu",
                (unsigned long long)(s1.shared_home_pages - s0.shared_home_pages),
                (unsigned long long)own_faults);
    write_pages(base, lists[me], NS_WF_PAGES, 4, 9, &d);
    snprintf(what, sizeof(what), "%d pages homed on this rank, after rank %d fetched them",
             NS_WF_PAGES, prev);
    expect_counts(&d, 0, own_faults, own_faults, what);
    MT_EXPECT_OK(mdsm_barrier());

    /* Rank r wrote words 0-1 of its own pages (last in interval 1), words 2-3
     * of the pages of rank (r+1) % n, and words 4-5 of its own pages. */
    struct dc_tally tally = {0};
    for (int r = 0; r < n; r++) {
        for (size_t i = 0; i < NS_WF_PAGES; i++) {
            size_t p = lists[r][i];
            volatile int64_t *w = page_words(base, p);
            for (int k = 0; k < 6; k++) {
                int64_t want = ns_value(p, (uint64_t)k, k < 2 ? 1 : k < 4 ? 7 : 9);
                if (w[k] != want)
                    DC_MISMATCH(&tally, "page %zu (home rank %d) word %d is %lld, expected %lld", p,
                                r, k, (long long)w[k], (long long)want);
            }
        }
    }
    DC_TALLY_END(&tally, "values after the writes");
    free(lists);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

/* ---- e. own home pages: private until another node fetches them --------------- */

/* One word of page p, read with its counters: returns the value and adds the
 * read faults it took to *faults. */
static int64_t read_counted(volatile char *base, size_t p, uint64_t *faults)
{
    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    int64_t v = page_words(base, p)[0];
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    *faults += s1.read_faults - s0.read_faults;
    return v;
}

/* Writes word 0 of page p; returns the write faults it took. */
static uint64_t write_counted(volatile char *base, size_t p, int64_t v)
{
    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    page_words(base, p)[0] = v;
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    return s1.write_faults - s0.write_faults;
}

/* A rank's own home page takes writes without a fault or a notice until a
 * rank of another node fetches it. The case that must not go wrong: the home
 * writes the page after that first fetch but before its next release (still
 * without a fault, since it cannot know yet); that release must still name
 * the page, or the reader keeps its stale copy. Rank r homes pages P and R,
 * rank nb = r+1 reads them:
 *   1. r writes P and R (no fault); mdsm_barrier; nb reads P (a fetch unless
 *      it shares r's home memory);
 *   2. MPI_Barrier (the fetch is over, no mdsm release); r writes P again: no
 *      fault; mdsm_barrier: r counts 1 shared home page, and nb must read the
 *      new value (a fetch again: its copy was invalidated);
 *   3. the same through a lock: nb reads R; MPI_Barrier; r writes R under
 *      lock r (no fault); MPI_Barrier; nb takes lock r and must read it;
 *   4. r writes P again: now one write fault.
 * Where nb shares r's home memory nothing faults and nothing is fetched. */
MT_MDSM_TEST(node_sharing, own_home_page_written_after_a_first_fetch_is_noticed)
{
    NS_BEGIN();
    int n = mdsm_nranks(), me = mdsm_rank();
    int nb = (me + 1) % n, prev = (me + n - 1) % n;
    /* Every other page: reads in address order would prefetch the next one. */
    size_t npages = 4 * (size_t)n, mine[2], theirs[2];
    volatile char *base = mdsm_alloc(npages * (size_t)mdsm_page_size());
    MT_ASSERT(base != NULL);
    MT_ASSERT(dc_pages_homed_on(base, npages, me, 2, mine, 2) == 2);
    MT_ASSERT(dc_pages_homed_on(base, npages, prev, 2, theirs, 2) == 2);
    int fetched = !dc_shares_home(nb);    /* nb fetches this rank's pages */
    int fetching = !dc_shares_home(prev); /* this rank fetches prev's */
    uint64_t faults = 0;

    /* 1 */
    MT_EXPECT_EQ(write_counted(base, mine[0], ns_value(mine[0], 0, 1)) +
                     write_counted(base, mine[1], ns_value(mine[1], 0, 1)),
                 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(read_counted(base, theirs[0], &faults), ns_value(theirs[0], 0, 1));
    MT_EXPECT_EQ(faults, fetching ? 1 : 0);

    /* 2 */
    MPI_Barrier(MPI_COMM_WORLD);
    MT_EXPECT_EQ(write_counted(base, mine[0], ns_value(mine[0], 0, 2)), 0);
    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    MT_EXPECT_EQ(s1.shared_home_pages - s0.shared_home_pages, fetched ? 1 : 0);
    faults = 0;
    int64_t v = read_counted(base, theirs[0], &faults);
    if (v != ns_value(theirs[0], 0, 2))
        mt_fail(__FILE__, __LINE__,
                "after mdsm_barrier page %zu (home rank %d) reads %lld, expected %lld: its home "
                "wrote it after this rank's first fetch, before its release",
                theirs[0], prev, (long long)v, (long long)ns_value(theirs[0], 0, 2));
    MT_EXPECT_EQ(faults, fetching ? 1 : 0);

    /* 3 */
    MT_EXPECT_EQ(page_words(base, theirs[1])[0], ns_value(theirs[1], 0, 1));
    MPI_Barrier(MPI_COMM_WORLD);
    MT_EXPECT_OK(mdsm_lock(me));
    MT_EXPECT_EQ(write_counted(base, mine[1], ns_value(mine[1], 0, 3)), 0);
    MT_EXPECT_OK(mdsm_unlock(me));
    MPI_Barrier(MPI_COMM_WORLD);
    MT_EXPECT_OK(mdsm_lock(prev));
    v = page_words(base, theirs[1])[0];
    if (v != ns_value(theirs[1], 0, 3))
        mt_fail(__FILE__, __LINE__,
                "under lock %d page %zu (home rank %d) reads %lld, expected %lld: its home wrote "
                "it under the lock after this rank's first fetch",
                prev, theirs[1], prev, (long long)v, (long long)ns_value(theirs[1], 0, 3));
    MT_EXPECT_OK(mdsm_unlock(prev));
    MT_EXPECT_OK(mdsm_barrier());

    /* 4 */
    MT_EXPECT_EQ(write_counted(base, mine[0], ns_value(mine[0], 0, 4)), fetched ? 1 : 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(page_words(base, theirs[0])[0], ns_value(theirs[0], 0, 4));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}
