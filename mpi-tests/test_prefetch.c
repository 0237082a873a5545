/*
 * Prefetch: read misses in address order on pages of one remote home fetch
 * runs of pages in one get (MDSM_PREFETCH_MAX). Rank r reads the pages homed
 * on rank r+1; misses at a stride of up to 64 pages fetch pages at that
 * stride. Where it shares that rank's home memory nothing is fetched;
 * otherwise the counts follow the rule exactly (pf_faults restates it), pages
 * read in any other order fault one by one, and pages fetched ahead but never
 * read are still tracked: their home's later writes reach this rank. The
 * mdsm_prefetch hint fetches what a first read would, without faults.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

enum { PF_PAGES = 200 };

static int64_t pf_value(size_t page, int round)
{
    return (int64_t)(page * 1000003u) + round + 1;
}

static uint64_t pf_max(void)
{
    for (int i = 0; i < mdsm_config_num_vars(); i++) {
        mdsm_config_var_t v;
        if (mdsm_config_var(i, &v) == MDSM_OK && strcmp(v.name, "MDSM_PREFETCH_MAX") == 0)
            return (uint64_t)strtoull(v.value, NULL, 10);
    }
    return 0;
}

/* The read faults of a scan of n pages of one home in address order, none
 * held before: one page per miss for the first four misses, then runs twice
 * as long as the last (2, 4, ...), at most max pages. */
static uint64_t pf_faults(uint64_t n, uint64_t max)
{
    uint64_t done = 0, faults = 0, seq = 0, w = 1;
    while (done < n) {
        seq++;
        w = seq <= 4 ? 1 : (2 * w < max ? 2 * w : max);
        done += w < n - done ? w : n - done;
        faults++;
    }
    return faults;
}

/* The widest stride in pages that misses may follow for a prefetch. */
enum { PF_STRIDE_MAX = 64 };

/* Reading every every-th of pages step apart (step 0: uneven) is a pattern. */
static int pf_strided(size_t step, size_t every)
{
    return step > 0 && step * every <= PF_STRIDE_MAX;
}

struct pf_setup {
    volatile int64_t *base;
    size_t words; /* per page */
    int nb;       /* the home read from */
    size_t list[PF_PAGES];
    int remote;  /* fetched, not used in place */
    size_t step; /* list[k + 1] - list[k] for every k (1 with block distribution), or 0 */
};

/* Every rank writes word 0 of its pages for round 0; the pages of the
 * right-hand neighbour are listed. */
static int pf_begin(struct pf_setup *s)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), npages = (size_t)n * PF_PAGES;
    if (dc_node_map_init() != MDSM_OK)
        return 0;
    s->base = mdsm_alloc(npages * ps);
    if (!s->base)
        return 0;
    s->words = ps / sizeof(int64_t);
    s->nb = (me + 1) % n;
    for (size_t p = 0; p < npages; p++)
        if (dc_home((const void *)(s->base + p * s->words)) == me)
            s->base[p * s->words] = pf_value(p, 0);
    if (dc_pages_homed_on(s->base, npages, s->nb, 1, s->list, PF_PAGES) != PF_PAGES)
        return 0;
    s->remote = !dc_shares_home(s->nb);
    s->step = s->list[1] - s->list[0];
    for (size_t k = 1; k < PF_PAGES; k++)
        if (s->list[k] - s->list[k - 1] != s->step)
            s->step = 0;
    return mdsm_barrier() == MDSM_OK;
}

/* Reads word 0 of every every-th of list[from..to) in that order (descending
 * if to < from). */
static void pf_read_every(const struct pf_setup *s, size_t from, size_t to, size_t every, int round,
                          struct dc_tally *t)
{
    for (size_t i = from; to > from ? i < to : i > to; i = to > from ? i + every : i - every) {
        size_t k = to > from ? i : i - 1, p = s->list[k];
        int64_t v = s->base[p * s->words];
        if (v != pf_value(p, round))
            DC_MISMATCH(t, "round %d: page %zu (home rank %d) reads %lld, expected %lld", round, p,
                        s->nb, (long long)v, (long long)pf_value(p, round));
    }
}

static void pf_read(const struct pf_setup *s, size_t from, size_t to, int round, struct dc_tally *t)
{
    pf_read_every(s, from, to, 1, round, t);
}

static void pf_expect(const mdsm_stats_t *a, const mdsm_stats_t *b, uint64_t faults,
                      uint64_t fetched, const char *what)
{
    uint64_t f = b->read_faults - a->read_faults, got = b->pages_fetched - a->pages_fetched,
             ahead = b->pages_prefetched - a->pages_prefetched;
    if (f != faults || got != fetched || ahead != fetched - faults)
        mt_fail(__FILE__, __LINE__,
                "%s (MDSM_PREFETCH_MAX %llu): %llu read faults, %llu pages fetched, %llu of them "
                "prefetched; expected %llu, %llu, %llu",
                what, (unsigned long long)pf_max(), (unsigned long long)f, (unsigned long long)got,
                (unsigned long long)ahead, (unsigned long long)faults, (unsigned long long)fetched,
                (unsigned long long)(fetched - faults));
}

MT_MDSM_TEST(prefetch, reads_in_address_order_fetch_runs)
{
    struct pf_setup s;
    MT_ASSERT(dc_all(pf_begin(&s)));
    struct dc_tally tally = {0};
    mdsm_stats_t a, b, c;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    pf_read(&s, 0, PF_PAGES, 0, &tally);
    MT_EXPECT_OK(mdsm_stats_get(&b));
    pf_read(&s, 0, PF_PAGES, 0, &tally); /* all held now */
    MT_EXPECT_OK(mdsm_stats_get(&c));
    DC_TALLY_END(&tally, "reads in address order");
    uint64_t faults = !s.remote               ? 0
                      : pf_strided(s.step, 1) ? pf_faults(PF_PAGES, pf_max())
                                              : PF_PAGES;
    pf_expect(&a, &b, faults, s.remote ? PF_PAGES : 0, "a scan in address order");
    pf_expect(&b, &c, 0, 0, "the same scan again");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)s.base));
}

MT_MDSM_TEST(prefetch, reads_out_of_order_fetch_one_page_each)
{
    struct pf_setup s;
    MT_ASSERT(dc_all(pf_begin(&s)));
    struct dc_tally tally = {0};
    mdsm_stats_t a, b;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    pf_read(&s, PF_PAGES, 0, 0, &tally); /* last first */
    MT_EXPECT_OK(mdsm_stats_get(&b));
    DC_TALLY_END(&tally, "reads last first");
    pf_expect(&a, &b, s.remote ? PF_PAGES : 0, s.remote ? PF_PAGES : 0, "a scan last first");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)s.base));
}

/* Rank r scans the first half of its neighbour's pages, which prefetches
 * pages of the second half it never reads. MPI_Barrier (no release); every
 * home rewrites all its pages; mdsm_barrier: every page must read the new
 * value, those fetched ahead included. */
MT_MDSM_TEST(prefetch, pages_fetched_ahead_see_their_homes_later_writes)
{
    struct pf_setup s;
    MT_ASSERT(dc_all(pf_begin(&s)));
    struct dc_tally tally = {0};
    mdsm_stats_t a, b;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    pf_read(&s, 0, PF_PAGES / 2, 0, &tally);
    MT_EXPECT_OK(mdsm_stats_get(&b));
    if (s.remote && pf_strided(s.step, 1) && pf_max() > 1)
        MT_EXPECT(b.pages_fetched - a.pages_fetched > PF_PAGES / 2); /* some fetched ahead */
    MPI_Barrier(MPI_COMM_WORLD);
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t npages = (size_t)n * PF_PAGES;
    for (size_t p = 0; p < npages; p++)
        if (dc_home((const void *)(s.base + p * s.words)) == me)
            s.base[p * s.words] = pf_value(p, 1);
    MT_EXPECT_OK(mdsm_barrier());
    pf_read(&s, 0, PF_PAGES, 1, &tally);
    DC_TALLY_END(&tally, "pages fetched ahead, after their home wrote them");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)s.base));
}

/* mdsm_prefetch over the whole allocation fetches exactly the pages this rank
 * would fetch at a first read (homed elsewhere and not used in place), with
 * no fault; the reads that follow fault on none of them and read the values;
 * a second hint fetches nothing. After every home rewrites its pages and a
 * barrier, the hinted copies are gone: reads see the new values, and a new
 * hint fetches the pages again. */
MT_MDSM_TEST(prefetch, hint_fetches_without_faults_and_copies_stay_coherent)
{
    struct pf_setup s;
    MT_ASSERT(dc_all(pf_begin(&s)));
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), npages = (size_t)n * PF_PAGES;
    uint64_t fetchable = 0;
    for (size_t p = 0; p < npages; p++) {
        int h = dc_home((const void *)(s.base + p * s.words));
        fetchable += h != me && !dc_shares_home(h);
    }
    struct dc_tally tally = {0};
    for (int round = 0; round < 2; round++) {
        mdsm_stats_t a, b, c, d;
        MT_EXPECT_OK(mdsm_stats_get(&a));
        MT_EXPECT_OK(mdsm_prefetch((const void *)s.base, npages * ps));
        MT_EXPECT_OK(mdsm_stats_get(&b));
        for (size_t p = 0; p < npages; p++) {
            int64_t v = s.base[p * s.words];
            if (v != pf_value(p, round))
                DC_MISMATCH(&tally,
                            "round %d: hinted page %zu (home rank %d) reads %lld, expected "
                            "%lld",
                            round, p, dc_home((const void *)(s.base + p * s.words)), (long long)v,
                            (long long)pf_value(p, round));
        }
        MT_EXPECT_OK(mdsm_stats_get(&c));
        MT_EXPECT_OK(mdsm_prefetch((const void *)s.base, npages * ps));
        MT_EXPECT_OK(mdsm_stats_get(&d));
        MT_EXPECT_EQ(b.pages_fetched - a.pages_fetched, fetchable);
        MT_EXPECT_EQ(b.pages_prefetched - a.pages_prefetched, fetchable);
        MT_EXPECT_EQ(b.read_faults - a.read_faults, 0);
        MT_EXPECT_EQ(c.pages_fetched - b.pages_fetched, 0); /* every read hits a hinted copy */
        MT_EXPECT_EQ(d.pages_fetched - c.pages_fetched, 0); /* all held: nothing to fetch */
        MPI_Barrier(MPI_COMM_WORLD); /* everyone has read this round's values */
        for (size_t p = 0; p < npages; p++)
            if (dc_home((const void *)(s.base + p * s.words)) == me)
                s.base[p * s.words] = pf_value(p, round + 1);
        MT_EXPECT_OK(mdsm_barrier());
        if (round == 1) { /* no hint now: plain reads see the homes' writes */
            for (size_t p = 0; p < npages; p++)
                if (s.base[p * s.words] != pf_value(p, 2))
                    DC_MISMATCH(&tally, "page %zu reads %lld after the homes' last writes", p,
                                (long long)s.base[p * s.words]);
        }
    }
    DC_TALLY_END(&tally, "pages read after mdsm_prefetch");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)s.base));
}

/* A hinted copy is read-only: a write to it faults once (twin), and the diff
 * reaches the home at a barrier; the word the home wrote beside it survives.
 * Every rank's pages are all written, by its left-hand neighbour. */
MT_MDSM_TEST(prefetch, writes_to_hinted_pages_reach_their_homes)
{
    struct pf_setup s;
    MT_ASSERT(dc_all(pf_begin(&s)));
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), npages = (size_t)n * PF_PAGES;
    MT_EXPECT_OK(mdsm_prefetch((const void *)s.base, npages * ps));
    mdsm_stats_t a, b;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    for (size_t k = 0; k < PF_PAGES; k++) /* word 1 of the neighbour's pages */
        s.base[s.list[k] * s.words + 1] = pf_value(s.list[k], 7);
    MT_EXPECT_OK(mdsm_stats_get(&b));
    MT_EXPECT_EQ(b.write_faults - a.write_faults, s.remote ? PF_PAGES : 0);
    MT_EXPECT_EQ(b.pages_fetched - a.pages_fetched, 0);
    MT_EXPECT_OK(mdsm_barrier());
    struct dc_tally tally = {0};
    for (size_t p = 0; p < npages; p++) {
        if (dc_home((const void *)(s.base + p * s.words)) != me)
            continue;
        int64_t w0 = s.base[p * s.words], w1 = s.base[p * s.words + 1];
        if (w0 != pf_value(p, 0) || w1 != pf_value(p, 7))
            DC_MISMATCH(&tally, "own page %zu holds %lld, %lld; expected %lld, %lld", p,
                        (long long)w0, (long long)w1, (long long)pf_value(p, 0),
                        (long long)pf_value(p, 7));
    }
    DC_TALLY_END(&tally, "home pages written through hinted copies");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)s.base));
}

/* Every 3rd of the neighbour's pages in address order: misses at one stride
 * fetch runs of pages at that stride (a get each, one flush), by the same
 * rule; the pages between are not fetched. Read again: all held. */
MT_MDSM_TEST(prefetch, strided_reads_fetch_runs_at_their_stride)
{
    struct pf_setup s;
    MT_ASSERT(dc_all(pf_begin(&s)));
    enum { EVERY = 3, READ = (PF_PAGES + EVERY - 1) / EVERY };
    struct dc_tally tally = {0};
    mdsm_stats_t a, b, c;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    pf_read_every(&s, 0, PF_PAGES, EVERY, 0, &tally);
    MT_EXPECT_OK(mdsm_stats_get(&b));
    pf_read_every(&s, 0, PF_PAGES, EVERY, 0, &tally);
    MT_EXPECT_OK(mdsm_stats_get(&c));
    DC_TALLY_END(&tally, "every 3rd page in address order");
    uint64_t faults = !s.remote ? 0 : pf_strided(s.step, EVERY) ? pf_faults(READ, pf_max()) : READ;
    pf_expect(&a, &b, faults, s.remote ? READ : 0, "every 3rd page in address order");
    pf_expect(&b, &c, 0, 0, "the same pages again");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)s.base));
}
