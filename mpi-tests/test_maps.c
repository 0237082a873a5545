/*
 * The kernel's mapping limit (issue 9): every cached copy, protection change
 * and home run in the global range may cost a kernel mapping (VMA), and a
 * process has at most vm.max_map_count of them. mdsm keeps within
 * MDSM_MAX_MAPPINGS (0: derived from vm.max_map_count) by evicting cached
 * pages, never failing in the fault handler; an allocation whose home
 * mappings alone cannot fit fails cleanly, on every rank, with
 * MDSM_ERR_NO_MEMORY and a message naming vm.max_map_count and MDSM_PAGE_SIZE.
 *
 * The bodies call mdsm_init themselves (sizes and distribution through
 * mdsm_config_t, env-only settings through setenv, restored afterwards).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* ---- Environment and session helpers ---------------------------------------- */

struct env_saved {
    const char *name;
    char *old; /* NULL: was unset */
};

static void env_set(struct env_saved *s, const char *name, const char *value)
{
    const char *old = getenv(name);
    s->name = name;
    s->old = old ? strdup(old) : NULL;
    setenv(name, value, 1);
}

static void env_restore(struct env_saved *s)
{
    if (s->old)
        setenv(s->name, s->old, 1);
    else
        unsetenv(s->name);
    free(s->old);
    s->old = NULL;
}

/* One mdsm session around body: MDSM_MAX_MAPPINGS (NULL: as it is) and, with
 * sharing_off, MDSM_NODE_SHARING=off set for mdsm_init only; the space size
 * and distribution (0: unset) through mdsm_config_t. The session is finalised
 * however the body returns. */
static void run_session(size_t space, mdsm_distribution_t dist, const char *max_mappings,
                        int sharing_off, void (*body)(void))
{
    struct env_saved lim = {0}, sharing = {0};
    if (max_mappings)
        env_set(&lim, "MDSM_MAX_MAPPINGS", max_mappings);
    if (sharing_off)
        env_set(&sharing, "MDSM_NODE_SHARING", "off");
    mdsm_config_t cfg;
    mdsm_config_init(&cfg);
    cfg.space_size = space;
    cfg.distribution = dist;
    int rc = mdsm_init(MPI_COMM_WORLD, &cfg);
    if (sharing_off)
        env_restore(&sharing);
    if (max_mappings)
        env_restore(&lim);
    MT_ASSERT_OK(rc);
    MT_EXPECT_OK(dc_node_map_init());
    body();
    MT_EXPECT_OK(mdsm_finalize());
}

static long max_map_count(void)
{
    long v = 65530; /* the kernel's default */
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    if (f) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 65530;
        fclose(f);
    }
    return v;
}

/* After a failed mdsm_alloc: the status and the message's two names. */
static void expect_no_memory(const char *what)
{
    int err = mdsm_last_error();
    const char *msg = mdsm_last_error_message();
    if (err != MDSM_ERR_NO_MEMORY)
        mt_fail(__FILE__, __LINE__, "%s: mdsm_last_error() is %d (%s), expected %d (%s)", what, err,
                mdsm_strerror(err), MDSM_ERR_NO_MEMORY, mdsm_strerror(MDSM_ERR_NO_MEMORY));
    if (!strstr(msg, "vm.max_map_count") || !strstr(msg, "MDSM_PAGE_SIZE"))
        mt_fail(__FILE__, __LINE__,
                "%s: the message \"%s\" should name vm.max_map_count and MDSM_PAGE_SIZE", what,
                msg);
}

/* Mappings of this process within [base, base + bytes), checked against limit. */
static void expect_mappings_within(const void *base, size_t bytes, long limit, const char *when)
{
    long count = dc_count_mappings(base, (const char *)base + bytes);
    if (count < 1 || count > limit)
        mt_fail(__FILE__, __LINE__,
                "%s: %ld kernel mappings intersect the allocation [%p, +%zu MiB), expected 1..%ld "
                "(/proc/self/maps)",
                when, count, base, bytes / MiB, limit);
}

static int64_t mp_value(uint64_t page, uint64_t word)
{
    return (int64_t)(dc_hash3(page, word, 0x6d617073) >> 1) | 1;
}

static volatile int64_t *word_of(volatile char *base, size_t page)
{
    return (volatile int64_t *)(base + page * (size_t)mdsm_page_size());
}

/* 1 iff some rank uses a neighbour's home pages in place but not every other
 * rank's: its pages then come from two files, and with cyclic homes the file
 * changes from one page to the next. */
static int some_rank_mixes_files(void)
{
    int n = mdsm_nranks();
    for (int a = 0; a < n; a++) {
        int with = 0, without = 0;
        for (int b = 0; b < n; b++)
            if (b != a) {
                with += dc_ranks_share(a, b);
                without += !dc_ranks_share(a, b);
            }
        if (with && without)
            return 1;
    }
    return 0;
}

/* ---- a. a cyclic 600 MiB allocation ------------------------------------------- */

/* MDSM_SPACE_SIZE 1G, cyclic: mdsm_alloc(600 MiB) succeeds wherever every
 * rank's pages come from one file (sharing off, one sharing node, alone):
 * home pages that would each need a mapping of their own are then mapped at
 * first access and closed again when mappings run short. Where a rank mixes
 * the node's file and its own page by page, it may instead fail cleanly
 * (MDSM_ERR_NO_MEMORY, message naming vm.max_map_count and MDSM_PAGE_SIZE).
 * Every rank writes one word in each page it homes; rank 0 checks every 97th
 * page. */
static void cyclic_600mb(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), bytes = 600 * MiB, npages = bytes / ps;
    int must_fit = !some_rank_mixes_files();
    volatile char *base = mdsm_alloc(bytes);
    if (!base) {
        if (must_fit)
            mt_fail(__FILE__, __LINE__,
                    "mdsm_alloc(600 MiB) cyclic on %d ranks failed although its home mappings "
                    "fit: %d (%s) %s",
                    n, mdsm_last_error(), mdsm_strerror(mdsm_last_error()),
                    mdsm_last_error_message());
        else
            expect_no_memory("mdsm_alloc(600 MiB) cyclic, home pages not shared");
        if (me == 0)
            printf("maps: 600 MiB cyclic on %d ranks did not fit (%s)\n", n,
                   mdsm_last_error_message());
        return;
    }
    for (size_t p = 0; p < npages; p++)
        if (dc_home(base + p * ps) == me)
            *word_of(base, p) = mp_value(p, 0);
    MT_EXPECT_OK(mdsm_barrier());
    if (me == 0) {
        struct dc_tally tally = {0};
        for (size_t p = 0; p < npages; p += 97) {
            int64_t v = *word_of(base, p);
            if (v != mp_value(p, 0))
                DC_MISMATCH(&tally, "page %zu (home rank %d) reads %lld, expected %lld", p,
                            dc_home(base + p * ps), (long long)v, (long long)mp_value(p, 0));
        }
        DC_TALLY_END(&tally, "every 97th page");
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

MT_TEST(maps, cyclic_600mb_on_every_rank)
{
    run_session(1 * GiB, MDSM_DIST_CYCLIC, NULL, 0, cyclic_600mb);
}

/* Between s0 and s1 this rank read want pages homed on home, apart, in
 * address order, none held before: each was fetched by its own read fault or
 * ahead of an earlier one (strided prefetch), so faults + prefetched pages
 * make want exactly, unless a page fetched ahead was evicted before its read
 * (then it faults again). */
static void expect_fetched_once_(const mdsm_stats_t *s0, const mdsm_stats_t *s1, uint64_t want,
                                 int home, int line)
{
    uint64_t faults = s1->read_faults - s0->read_faults,
             ahead = s1->pages_prefetched - s0->pages_prefetched,
             evicted = s1->evictions - s0->evictions;
    int ok = faults <= want && faults + ahead >= want && (evicted > 0 || faults + ahead == want) &&
             s1->pages_fetched - s0->pages_fetched == faults + ahead;
    if (!ok)
        mt_fail(__FILE__, line,
                "reading %llu pages homed on rank %d (this rank %s): %llu read faults, %llu pages "
                "prefetched, %llu fetched, %llu evictions; expected faults and prefetched pages "
                "to make %llu (more only after evictions)",
                (unsigned long long)want, home, dc_share_word(home), (unsigned long long)faults,
                (unsigned long long)ahead,
                (unsigned long long)(s1->pages_fetched - s0->pages_fetched),
                (unsigned long long)evicted, (unsigned long long)want);
}
#define expect_fetched_once(s0, s1, want, home)                                                    \
    expect_fetched_once_((s0), (s1), (want), (home), __LINE__)

/* ---- b. every other page of one rank's 300 MiB share -------------------------- */

/* Block, 300 MiB per rank: the last rank writes one word in each page of its
 * share; rank 0 reads every other page of that share with the default cache
 * (each cached page between two uncached ones is a mapping of its own, beyond
 * vm.max_map_count without eviction). Values are right, nothing aborts, and
 * each page read is fetched once, by its fault or ahead of one (stride 2), or
 * none where rank 0 shares home memory with the last rank (at np1 the share
 * is rank 0's own). */
enum { MP_SHARE_MIB_B = 300 };

static void every_other_page(void)
{
    int n = mdsm_nranks(), me = mdsm_rank(), last = n - 1;
    size_t share = MP_SHARE_MIB_B * MiB;
    size_t ps = (size_t)mdsm_page_size(), share_pages = share / ps;
    volatile char *base = mdsm_alloc((size_t)n * share);
    MT_ASSERT(base != NULL);
    volatile char *lasts = base + (size_t)last * share;
    MT_EXPECT_EQ(dc_home(lasts), last);
    MT_EXPECT_EQ(dc_home(lasts + share - 1), last);
    if (me == last)
        for (size_t p = 0; p < share_pages; p++)
            *word_of(lasts, p) = mp_value(p, 1);
    MT_EXPECT_OK(mdsm_barrier());
    if (me == 0) {
        mdsm_stats_t s0, s1;
        MT_EXPECT_OK(mdsm_stats_get(&s0));
        struct dc_tally tally = {0};
        uint64_t read = 0;
        for (size_t p = 0; p < share_pages; p += 2, read++) {
            int64_t v = *word_of(lasts, p);
            if (v != mp_value(p, 1))
                DC_MISMATCH(&tally, "page %zu of rank %d's share reads %lld, expected %lld", p,
                            last, (long long)v, (long long)mp_value(p, 1));
        }
        DC_TALLY_END(&tally, "every other page");
        MT_EXPECT_OK(mdsm_stats_get(&s1));
        expect_fetched_once(&s0, &s1, dc_shares_home(last) ? 0 : read, last);
        expect_mappings_within((const void *)base, (size_t)n * share, max_map_count(),
                               "after the reads");
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

MT_TEST(maps, every_other_page_of_300mb_homed_on_one_rank)
{
    run_session((size_t)mt_nranks() * MP_SHARE_MIB_B * MiB + 16 * MiB, MDSM_DIST_BLOCK, NULL, 0,
                every_other_page);
}

/* ---- c. a sparse pattern over a million pages, 2000 mappings ------------------- */

enum { MP_LIMIT_C = 2000, MP_TOUCH = 100000, MP_WRITE_EVERY = 8 };

/* MDSM_MAX_MAPPINGS=2000, MDSM_SPACE_SIZE 8G, 4 GiB block allocation (1M pages
 * of 4 KiB). The pattern: MP_TOUCH distinct pseudo-random pages homed on
 * ranks other than 0 (all pages at np1), the same list on every rank. Homes
 * write one word in each; rank 0 reads them in pattern order and writes a
 * second word in every 8th; after mdsm_barrier the homes check those. Either
 * mdsm_alloc fails cleanly on every rank, or all values are right, rank 0's
 * read faults are exact (one per page, none where it shares home memory with
 * the page's home), and at every check no more than 2000 mappings intersect
 * the allocation. Never an abort. */
static void sparse_pattern(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), bytes = 4 * GiB, npages = bytes / ps;
    volatile char *base = mdsm_alloc(bytes);
    if (!base) {
        expect_no_memory("mdsm_alloc(4 GiB) with MDSM_MAX_MAPPINGS=2000");
        return;
    }
    size_t want_pages = npages / 4 < MP_TOUCH ? npages / 4 : MP_TOUCH;
    size_t *list = malloc(want_pages * sizeof(*list));
    uint8_t *taken = calloc(npages / 8 + 1, 1);
    if (!list || !taken)
        abort();
    uint64_t seed = 0x5eed0c;
    size_t k = 0;
    while (k < want_pages) {
        size_t p = (size_t)dc_below(&seed, npages);
        if ((n > 1 && dc_home(base + p * ps) == 0) || (taken[p / 8] & (1u << (p % 8))))
            continue;
        taken[p / 8] |= (uint8_t)(1u << (p % 8));
        list[k++] = p;
    }
    free(taken);

    for (size_t i = 0; i < k; i++)
        if (dc_home(base + list[i] * ps) == me)
            word_of(base, list[i])[0] = mp_value(list[i], 0);
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_C, "after the homes' writes");
    MT_EXPECT_OK(mdsm_barrier());
    if (me == 0) {
        mdsm_stats_t s0, s1;
        MT_EXPECT_OK(mdsm_stats_get(&s0));
        uint64_t want_faults = 0;
        struct dc_tally tally = {0};
        for (size_t i = 0; i < k; i++) {
            volatile int64_t *w = word_of(base, list[i]);
            int home = dc_home(w);
            if (!dc_shares_home(home))
                want_faults++;
            if (w[0] != mp_value(list[i], 0))
                DC_MISMATCH(&tally,
                            "pattern page %zu (page %zu, home rank %d) reads %lld, "
                            "expected %lld",
                            i, list[i], home, (long long)w[0], (long long)mp_value(list[i], 0));
            if (i % MP_WRITE_EVERY == 0)
                w[1] = mp_value(list[i], 1);
        }
        DC_TALLY_END(&tally, "rank 0's reads of the pattern");
        MT_EXPECT_OK(mdsm_stats_get(&s1));
        MT_EXPECT_EQ(s1.read_faults - s0.read_faults, want_faults);
        expect_mappings_within((const void *)base, bytes, MP_LIMIT_C, "after rank 0's reads");
    }
    MT_EXPECT_OK(mdsm_barrier());
    struct dc_tally tally = {0};
    for (size_t i = 0; i < k; i += MP_WRITE_EVERY) {
        volatile int64_t *w = word_of(base, list[i]);
        if (dc_home(w) == me && w[1] != mp_value(list[i], 1))
            DC_MISMATCH(&tally,
                        "at its home, page %zu reads %lld as written by rank 0, expected "
                        "%lld",
                        list[i], (long long)w[1], (long long)mp_value(list[i], 1));
    }
    DC_TALLY_END(&tally, "rank 0's writes at their homes");
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_C, "at the end");
    free(list);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

MT_TEST(maps, million_page_sparse_pattern_with_low_limit)
{
    run_session(8 * GiB, MDSM_DIST_BLOCK, "2000", 0, sparse_pattern);
}

/* ---- d. an allocation whose home mappings cannot fit ----------------------------- */

enum { MP_CYCLIC_PAGES = 1024 };

/* MDSM_MAX_MAPPINGS=256, cyclic, 1024 pages. Where some rank's home pages
 * would alternate between the node's file and its own (node sharing with
 * ranks on other hosts), every page is a mapping of its own, beyond 256:
 * mdsm_alloc returns NULL on every rank with MDSM_ERR_NO_MEMORY and a message
 * naming vm.max_map_count and MDSM_PAGE_SIZE. Otherwise (one file: alone, all
 * ranks on one sharing node, or sharing off) it succeeds, home pages being
 * mapped at first access where mapping them all would not fit: every home
 * writes each of its pages, rank 0 reads them all, and the mappings stay
 * within 256. Either way a small allocation afterwards works across all ranks. */
static void cannot_fit(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size();
    int must_fail = some_rank_mixes_files();
    volatile char *big = mdsm_alloc(MP_CYCLIC_PAGES * ps);
    if (!must_fail) {
        if (!big)
            mt_fail(__FILE__, __LINE__, "mdsm_alloc of %d cyclic pages failed: %s", MP_CYCLIC_PAGES,
                    mdsm_last_error_message());
    } else if (big) {
        mt_fail(__FILE__, __LINE__,
                "mdsm_alloc of %d cyclic pages on %d ranks mixing node and own files with "
                "MDSM_MAX_MAPPINGS=256 succeeded; expected NULL with MDSM_ERR_NO_MEMORY",
                MP_CYCLIC_PAGES, n);
    } else {
        expect_no_memory("mdsm_alloc of 1024 cyclic pages, MDSM_MAX_MAPPINGS=256");
    }
    if (big) {
        for (size_t p = 0; p < MP_CYCLIC_PAGES; p++)
            if (dc_home(word_of(big, p)) == me)
                word_of(big, p)[0] = mp_value(p, 7);
        expect_mappings_within((const void *)big, MP_CYCLIC_PAGES * ps, 256,
                               "after the homes' writes");
        MT_EXPECT_OK(mdsm_barrier());
        struct dc_tally tally = {0};
        for (size_t p = 0; me == 0 && p < MP_CYCLIC_PAGES; p++)
            if (word_of(big, p)[0] != mp_value(p, 7))
                DC_MISMATCH(&tally, "page %zu (home rank %d) reads %lld, expected %lld", p,
                            dc_home(word_of(big, p)), (long long)word_of(big, p)[0],
                            (long long)mp_value(p, 7));
        DC_TALLY_END(&tally, "every page of the cyclic allocation");
        expect_mappings_within((const void *)big, MP_CYCLIC_PAGES * ps, 256, "after the reads");
        MT_EXPECT_OK(mdsm_barrier());
        MT_EXPECT_OK(mdsm_free((void *)big));
    }

    /* Nothing was lost: one page per rank, every rank writes a slot of each. */
    volatile char *small = mdsm_alloc((size_t)n * ps);
    MT_ASSERT(small != NULL);
    for (int p = 0; p < n; p++)
        word_of(small, (size_t)p)[me] = mp_value((uint64_t)p, (uint64_t)me);
    MT_EXPECT_OK(mdsm_barrier());
    for (int p = 0; p < n; p++)
        for (int r = 0; r < n; r++)
            if (word_of(small, (size_t)p)[r] != mp_value((uint64_t)p, (uint64_t)r))
                mt_fail(__FILE__, __LINE__,
                        "small allocation: page %d (home rank %d) slot %d reads %lld, expected "
                        "%lld",
                        p, dc_home(word_of(small, (size_t)p)), r,
                        (long long)word_of(small, (size_t)p)[r],
                        (long long)mp_value((uint64_t)p, (uint64_t)r));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)small));
}

MT_TEST(maps, allocation_that_cannot_fit_fails_clearly)
{
    run_session(0, MDSM_DIST_CYCLIC, "256", 0, cannot_fit);
}

/* ---- e. the budget holds with a tight limit ---------------------------------------- */

enum { MP_LIMIT_E = 512, MP_SHARE_E = 3072 };

/* MDSM_MAX_MAPPINGS=512, block, 3072 pages per rank. Homes write one word in
 * each of their pages; rank r reads every 3rd page of rank (r+1) % n's share
 * (1024 pages, about 2048 mappings if all were kept) and, where that is
 * another rank, writes a second word in every 9th page of the share (writes
 * to a rank's own pages are the next test's). The mappings intersecting the allocation
 * stay within 512 during the interval and after mdsm_barrier, the 1024 pages
 * are fetched once each, by their faults or ahead of one (stride 3; none
 * where home memory is shared), and the homes see the writes. */
static void tight_budget(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), npages = (size_t)n * MP_SHARE_E, bytes = npages * ps;
    volatile char *base = mdsm_alloc(bytes);
    MT_ASSERT(base != NULL);
    for (size_t p = (size_t)me * MP_SHARE_E; p < (size_t)(me + 1) * MP_SHARE_E; p++)
        word_of(base, p)[0] = mp_value(p, 0);
    MT_EXPECT_EQ(dc_home(word_of(base, (size_t)me * MP_SHARE_E)), me);
    MT_EXPECT_OK(mdsm_barrier());

    int nb = (me + 1) % n;
    size_t first = (size_t)nb * MP_SHARE_E;
    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    struct dc_tally tally = {0};
    uint64_t read = 0;
    for (size_t p = first; p < first + MP_SHARE_E; p += 3, read++) {
        volatile int64_t *w = word_of(base, p);
        if (w[0] != mp_value(p, 0))
            DC_MISMATCH(&tally, "page %zu (home rank %d) reads %lld, expected %lld", p, nb,
                        (long long)w[0], (long long)mp_value(p, 0));
        if (nb != me && (p - first) % 9 == 0)
            w[1] = mp_value(p, 1);
    }
    DC_TALLY_END(&tally, "every 3rd page of the neighbour's share");
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    expect_fetched_once(&s0, &s1, dc_shares_home(nb) ? 0 : read, nb);
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_E, "during the interval");
    MT_EXPECT_OK(mdsm_barrier());
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_E, "after mdsm_barrier");

    /* Rank (me - 1) % n wrote every 9th page of this rank's share. */
    struct dc_tally t2 = {0};
    size_t mine = (size_t)me * MP_SHARE_E;
    for (size_t p = mine; n > 1 && p < mine + MP_SHARE_E; p += 9)
        if (word_of(base, p)[1] != mp_value(p, 1))
            DC_MISMATCH(&t2, "at its home, page %zu reads %lld, expected %lld", p,
                        (long long)word_of(base, p)[1], (long long)mp_value(p, 1));
    DC_TALLY_END(&t2, "the neighbour's writes at their home");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

MT_TEST(maps, mapping_count_matches_the_kernel)
{
    run_session(0, MDSM_DIST_BLOCK, "512", 0, tight_budget);
}

/* ---- f. scattered writes to home pages ------------------------------------------- */

enum { MP_LIMIT_F = 512, MP_SHARE_F = 4096 };

/* MDSM_MAX_MAPPINGS=512, block, 4096 pages per rank: rank r+1 reads every
 * other page of rank r's share, so that rank r tracks writes to those (a home
 * page no other node has fetched is written without a fault); each rank then
 * writes the same pages of its own share in one interval. A home page
 * write-protected or opened alone splits the share's mapping (about 4096
 * mappings if each stayed its own), so the budget must cover home pages too,
 * not only cached copies: within 512 after the reads, during the interval and
 * after mdsm_barrier, every write counted as a write fault (and a node write
 * fault: a rank's own pages are its node's) unless rank r+1 uses them in
 * place (all ranks on one sharing node: no fault at all), and every rank sees
 * every value afterwards (a sample of each share). */
static void scattered_home_writes(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), npages = (size_t)n * MP_SHARE_F, bytes = npages * ps;
    volatile char *base = mdsm_alloc(bytes);
    MT_ASSERT(base != NULL);
    size_t first = (size_t)me * MP_SHARE_F;
    MT_EXPECT_EQ(dc_home(word_of(base, first)), me);
    int prev = (me + n - 1) % n, nb = (me + 1) % n;
    for (size_t p = (size_t)prev * MP_SHARE_F; n > 1 && p < (size_t)(prev + 1) * MP_SHARE_F; p += 2)
        MT_EXPECT_EQ(word_of(base, p)[0], 0);
    /* The reads are over at the first barrier; the second releases after them. */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_barrier());
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_F, "after the reads");
    mdsm_stats_t s0, s1;
    MT_EXPECT_OK(mdsm_stats_get(&s0));
    for (size_t p = first; p < first + MP_SHARE_F; p += 2)
        word_of(base, p)[0] = mp_value(p, 2);
    MT_EXPECT_OK(mdsm_stats_get(&s1));
    /* pages nobody fetched (rank r+1 uses them in place, or r is alone) are open */
    uint64_t want = n > 1 && !dc_shares_home(nb) ? MP_SHARE_F / 2 : 0;
    MT_EXPECT_EQ(s1.write_faults - s0.write_faults, want);
    MT_EXPECT_EQ(s1.node_write_faults - s0.node_write_faults, want);
    MT_EXPECT_EQ(s1.read_faults - s0.read_faults, 0);
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_F, "during the interval");
    MT_EXPECT_OK(mdsm_barrier());
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_F, "after mdsm_barrier");
    struct dc_tally tally = {0};
    for (size_t p = 0; p < npages; p += 2 * 37) {
        int64_t v = word_of(base, p)[0];
        if (v != mp_value(p, 2))
            DC_MISMATCH(&tally, "page %zu (home rank %d) reads %lld, expected %lld", p,
                        dc_home(word_of(base, p)), (long long)v, (long long)mp_value(p, 2));
    }
    DC_TALLY_END(&tally, "a sample of every share");
    expect_mappings_within((const void *)base, bytes, MP_LIMIT_F, "after the sample");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

MT_TEST(maps, scattered_home_writes_stay_within_the_limit)
{
    run_session(0, MDSM_DIST_BLOCK, "512", 0, scattered_home_writes);
}
