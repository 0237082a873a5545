#include "cache/cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cache/diff.h"
#include "common/error.h"
#include "common/lazy.h"
#include "common/lifecycle.h"
#include "common/log.h"
#include "rma/rma.h"
#include "space/space.h"
#include "stats/stats.h"
#include "watchdog/watchdog.h"

/* Slot 0 is never used, so that a zeroed entry (a page never touched) holds
 * no slot: remote pages' entries are written only once they are accessed. */
#define NO_SLOT 0
#define NO_PAGE UINT64_MAX

/* Twins for home pages kept writable across releases: at most HOT_MAX pages
 * and HOT_BYTES of memory (at least one page). Each costs a page compare per
 * release while it is kept. */
#define HOT_MAX   255
#define HOT_BYTES (1u << 20)

struct cache_page {
    uint8_t state;
    uint8_t listed;    /* in the dirty list */
    uint8_t fetching;  /* INVALID or DIRTY: a thread fetches it now with the lock dropped */
    uint8_t stale;     /* invalidated while fetching: the fetched data is not used */
    uint8_t shared;    /* homed on this rank, and another node has fetched it (sharer byte seen) */
    uint8_t announced; /* remote: this rank has set its sharer byte at the home */
    uint8_t hot;       /* HOME_DIRTY kept writable across releases: its twin is hot pool entry
                        * hot - 1 (0: none) */
    uint8_t closed_at; /* home page: the release that last closed it after a write (mod 256;
                        * 0: none) */
    uint64_t slot;     /* cache slot of a remote page holding memory, or NO_SLOT */
};

/* Every table below is guarded by one mutex, held for short steps: a fetch
 * drops it for the transfer (the page marked fetching, its slot reserved), so
 * that faults on other pages and synchronisation proceed meanwhile. Code under
 * the mutex touches the global range only to read home pages it keeps
 * writable (other pages through their read-write views: diffs read them,
 * diff_merge writes them by compare-and-swap), so a thread holding it cannot
 * fault, and the fault handler cannot deadlock on it. Threads that fault on a
 * page being fetched wait on `done` and retry their access. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER; /* a fetch ended */

static struct {
    struct cache_page *pages; /* one per global page */
    size_t page_size;
    uint64_t npages;
    uint64_t nslots;
    uint64_t *slot_page;  /* page holding each slot below fresh, or NO_PAGE */
    uint64_t *free_slots; /* stack of released slots */
    uint64_t nfree;
    uint64_t fresh;     /* slots from here on were never used: tables stay untouched */
    uint64_t hand;      /* next eviction candidate (FIFO over slots) */
    uint64_t nfetching; /* fetches in flight (the mutex dropped) */
    /* Home pages opened one by one (lazily mapped, or written), oldest first:
     * the runs make_room closes when mappings run short. A ring: the oldest
     * entries are overwritten, a stale entry is skipped. */
    uint64_t *opened;
    uint64_t opened_cap, opened_head, opened_tail;
    unsigned char *twins;
    /* Twins of home pages written in two intervals in a row and kept
     * writable (hot_twin): a stack of free entries, numbered from 1. */
    unsigned char *hot_twins;
    uint8_t *hot_free;
    uint32_t nhot_free, hot_cap;
    uint64_t *dirty; /* pages written this interval */
    uint64_t ndirty;
    uint64_t *draining; /* dropped copies whose diff is in flight: memory kept until flushed */
    uint64_t ndraining;
    struct mdsm_run *runs;
    cache_written_fn written;
    /* Sharer bytes (space.h) of this rank's home pages already acted on, and
     * where this rank's home pages lie in each allocation: the only bytes a
     * release reads. */
    uint8_t *sharers_seen;
    struct home_span {
        uint64_t lo, hi; /* first and last page homed on this rank */
    } * spans;
    size_t nspans, cap_spans;
    int classify;      /* own home pages start private: nranks > 1 and writes tracked */
    int failed;        /* a release could not complete its diffs: every later one fails */
    uint64_t releases; /* number of the next release (from 1) */
    /* Read misses on remote pages in address order, stride pages apart
     * (1: sequential), fetch runs of pages: seq_next is where the next miss
     * must be to continue the pattern, last_miss the page of the last one,
     * window how many pages the next fetch takes (doubling up to
     * prefetch_max). */
    uint64_t seq_next, seq_misses, last_miss, stride, window, prefetch_max;
    /* Kernel mappings (VMAs) of the range: 1 + the boundaries between pages of
     * different backing file or protection, kept as states change. */
    uint64_t maps, budget, kernel_max;
} c;

/* ---- Mapping budget ---------------------------------------------------- */

static uint64_t read_u64_file(const char *path, uint64_t fallback)
{
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    int ok = f && fscanf(f, "%llu", &v) == 1;
    if (f)
        fclose(f);
    return ok ? (uint64_t)v : fallback;
}

static uint64_t count_process_maps(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    uint64_t n = 0;
    int ch;
    while (f && (ch = fgetc(f)) != EOF)
        n += ch == '\n';
    if (f)
        fclose(f);
    return n;
}

/* vm.max_map_count less what the process holds now and a reserve for what
 * MPI and the application map later; MDSM_MAX_MAPPINGS may only lower it. */
static void set_budget(int asked)
{
    c.kernel_max = read_u64_file("/proc/sys/vm/max_map_count", 65530);
    uint64_t held = count_process_maps(), reserve = c.kernel_max / 8;
    if (reserve < 1024)
        reserve = 1024;
    uint64_t avail = c.kernel_max > held + reserve + 64 ? c.kernel_max - held - reserve : 64;
    c.budget = asked > 0 && (uint64_t)asked < avail ? (uint64_t)asked : avail;
}

/* What a state's mapping looks like: protection, and the node file or the own one. */
static unsigned key_of(uint8_t state)
{
    unsigned node = mdsm_space.sharing ? 4 : 0;
    switch (state) {
    case PAGE_CACHED: return 1;
    case PAGE_DIRTY: return 2;
    case PAGE_HOME_NONE: return node;
    case PAGE_HOME_CLEAN: return node | 1;
    case PAGE_HOME_DIRTY:
    case PAGE_HOME_OPEN: return node | 2;
    default: return 0; /* unused, invalid, draining: the own file, inaccessible */
    }
}

static unsigned key_at(uint64_t page)
{
    return key_of(c.pages[page].state);
}

static unsigned char *hot_twin(const struct cache_page *p)
{
    return c.hot_twins + (size_t)(p->hot - 1) * c.page_size;
}

static void drop_hot(struct cache_page *p)
{
    if (p->hot) {
        c.hot_free[c.nhot_free++] = p->hot;
        p->hot = 0;
    }
}

static void set_state(uint64_t page, uint8_t state)
{
    struct cache_page *p = &c.pages[page];
    unsigned k0 = key_of(p->state), k1 = key_of(state);
    if (state != PAGE_HOME_DIRTY)
        drop_hot(p);
    p->state = state;
    if (k0 == k1)
        return;
    if (page > 0) {
        unsigned kq = key_at(page - 1);
        c.maps += (uint64_t)(k1 != kq) - (uint64_t)(k0 != kq);
    }
    if (page + 1 < c.npages) {
        unsigned kq = key_at(page + 1);
        c.maps += (uint64_t)(k1 != kq) - (uint64_t)(k0 != kq);
    }
}

int cache_init(const struct mdsm_settings *s, cache_written_fn written)
{
    memset(&c, 0, sizeof(c));
    c.npages = mdsm_space.npages;
    c.page_size = s->page_size;
    c.nslots = s->cache_size / s->page_size + 1; /* + slot 0, never used */
    c.written = written;
    c.maps = 1;
    set_budget(s->max_mappings);
    c.pages = lazy_array(c.npages * sizeof(*c.pages));
    c.dirty = lazy_array(c.npages * sizeof(*c.dirty));
    c.draining = lazy_array(c.nslots * sizeof(*c.draining));
    c.twins = lazy_array(c.nslots * c.page_size);
    c.slot_page = lazy_array(c.nslots * sizeof(*c.slot_page));
    c.free_slots = lazy_array(c.nslots * sizeof(*c.free_slots));
    c.runs = malloc((c.page_size / 2 + 1) * sizeof(*c.runs));
    c.opened_cap = c.npages;
    c.opened = lazy_array(c.opened_cap * sizeof(*c.opened));
    c.sharers_seen = lazy_array(c.npages);
    c.classify = mdsm_space.nranks > 1 && !mdsm_space.untracked;
    if (c.classify) {
        c.hot_cap = HOT_BYTES / c.page_size;
        c.hot_cap = c.hot_cap > HOT_MAX ? HOT_MAX : c.hot_cap ? c.hot_cap : 1;
        c.hot_twins = lazy_array((size_t)c.hot_cap * c.page_size);
        c.hot_free = malloc(c.hot_cap * sizeof(*c.hot_free));
        if (!c.hot_twins || !c.hot_free) {
            cache_fini();
            return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "cache: twins of %u home pages",
                                      c.hot_cap);
        }
        for (uint32_t i = 0; i < c.hot_cap; i++)
            c.hot_free[c.nhot_free++] = (uint8_t)(c.hot_cap - i);
    }
    c.prefetch_max = (uint64_t)s->prefetch_max;
    c.releases = 1;
    c.window = 1;
    c.stride = 1;
    if (!c.pages || !c.dirty || !c.draining || !c.twins || !c.slot_page || !c.free_slots ||
        !c.runs || !c.opened || !c.sharers_seen) {
        cache_fini();
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "cache: tables for %llu slots",
                                  (unsigned long long)c.nslots - 1);
    }
    c.slot_page[0] = NO_PAGE;
    c.fresh = 1;
    return MDSM_OK;
}

void cache_fini(void)
{
    if (c.pages)
        munmap(c.pages, c.npages * sizeof(*c.pages));
    if (c.dirty)
        munmap(c.dirty, c.npages * sizeof(*c.dirty));
    if (c.draining)
        munmap(c.draining, c.nslots * sizeof(*c.draining));
    if (c.twins)
        munmap(c.twins, c.nslots * c.page_size);
    if (c.slot_page)
        munmap(c.slot_page, c.nslots * sizeof(*c.slot_page));
    if (c.free_slots)
        munmap(c.free_slots, c.nslots * sizeof(*c.free_slots));
    if (c.opened)
        munmap(c.opened, c.opened_cap * sizeof(*c.opened));
    if (c.sharers_seen)
        munmap(c.sharers_seen, c.npages);
    if (c.hot_twins)
        munmap(c.hot_twins, (size_t)c.hot_cap * c.page_size);
    free(c.hot_free);
    free(c.runs);
    free(c.spans);
    memset(&c, 0, sizeof(c));
}

void cache_mappings(uint64_t *used, uint64_t *budget, uint64_t *kernel_max)
{
    *used = __atomic_load_n(&c.maps, __ATOMIC_RELAXED);
    *budget = c.budget;
    *kernel_max = c.kernel_max;
}

/* The fault path cannot report errors to anyone: a failure there is fatal. */
static void fatal(const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "mdsm: fatal: %s (%s)\n", what, mdsm_last_error_message());
    if (write(STDERR_FILENO, msg, (size_t)n) < 0)
        n = 0;
    abort();
}

/* ENOMEM from mprotect means either an unmapped range or too many mappings. */
static void protect_failed(void *addr, size_t len, int err)
{
    if (!space_range_mapped(addr, len)) {
        char what[160];
        snprintf(what, sizeof(what),
                 "mdsm memory at %p was unmapped by the application (munmap of an mdsm "
                 "allocation?)",
                 addr);
        fatal(what);
    }
    char what[200];
    snprintf(what, sizeof(what),
             "cannot change page protection%s (%llu mappings in the range, "
             "%llu allowed, vm.max_map_count %llu)",
             err == ENOMEM ? " (vm.max_map_count too low?)" : "", (unsigned long long)c.maps,
             (unsigned long long)c.budget, (unsigned long long)c.kernel_max);
    fatal(what);
}

static void protect_run(uint64_t page, uint64_t n, int prot)
{
    if (mprotect(space_page_addr(page), n * c.page_size, prot) != 0) {
        int err = errno;
        mdsm_fail_internal(MDSM_ERR_SYSTEM, "mprotect: %s", strerror(err));
        protect_failed(space_page_addr(page), n * c.page_size, err);
    }
}

static void protect(uint64_t page, int prot)
{
    protect_run(page, 1, prot);
}

static unsigned char *twin_of(const struct cache_page *p)
{
    return c.twins + p->slot * c.page_size;
}

static void list_dirty(uint64_t page, struct cache_page *p)
{
    if (!p->listed) {
        p->listed = 1;
        c.dirty[c.ndirty++] = page;
    }
}

/* Starts writing a dirty remote page's changes home; *put tells whether an
 * RMA operation now reads its source. Pending until flushed: until then the
 * source must not change, because some transports (TCP) read a put's source
 * only when the put is progressed or flushed. So the source is the twin where
 * update (the page may stay writable: the twin holds exactly the bytes read,
 * and changes only under the mutex, which a release holds until its flush),
 * else the cache view of a page no thread can write now. Its write notice is
 * logged once the flush has completed it (a notice published by another
 * thread's release must never name a write still in flight). */
static int write_diff(uint64_t page, struct cache_page *p, int update, int *put)
{
    size_t changed = 0;
    *put = 0;
    const unsigned char *view = (const unsigned char *)space_cache_view(page);
    unsigned char *twin = twin_of(p);
    int n = update ? diff_runs_update(view, twin, c.page_size, c.runs, &changed)
                   : diff_runs(view, twin, c.page_size, c.runs, &changed);
    if (n == 0)
        return MDSM_OK;
    int rc = rma_put_runs(space_home(page), space_disp(page), (const char *)(update ? twin : view),
                          c.runs, n);
    if (rc != MDSM_OK)
        return rc;
    *put = 1;
    mdsm_stat.diffs++;
    mdsm_stat.diff_bytes += changed;
    return MDSM_OK;
}

static void free_slot(struct cache_page *p)
{
    c.slot_page[p->slot] = NO_PAGE;
    c.free_slots[c.nfree++] = p->slot;
    p->slot = NO_SLOT;
}

/* Makes a remote copy inaccessible; it keeps its memory and slot, so that a
 * refetch lands in populated memory. A dirty copy's changes go home, after
 * the protection change, so that a thread writing it meanwhile faults and
 * waits instead of writing past the diff: until the flush it drains
 * (finish_draining). On failure the copy stays dirty, its changes kept. */
static int drop(uint64_t page, struct cache_page *p)
{
    int put = 0;
    protect(page, PROT_NONE);
    if (p->state == PAGE_DIRTY) {
        int rc = write_diff(page, p, 0, &put);
        if (rc != MDSM_OK) {
            protect(page, PROT_READ | PROT_WRITE);
            return rc;
        }
    }
    set_state(page, put ? PAGE_DRAINING : PAGE_INVALID);
    if (put)
        c.draining[c.ndraining++] = page;
    return MDSM_OK;
}

/* After a successful flush: no RMA reads a drained copy any more, and its
 * changes are at the home. */
static void finish_draining(void)
{
    for (uint64_t i = 0; i < c.ndraining; i++) {
        if (c.pages[c.draining[i]].state == PAGE_DRAINING)
            set_state(c.draining[i], PAGE_INVALID);
        c.written(c.draining[i]);
    }
    c.ndraining = 0;
}

/* A failed flush may have lost diffs whose twins or copies are gone, so
 * every later release fails too (release_locked). */
static int flush_home(void)
{
    int rc = rma_flush_home();
    if (rc == MDSM_OK)
        finish_draining();
    else if (!c.failed)
        c.failed = rc;
    return rc;
}

/* Evicts the page in the slot at the hand (never keep's): drops it, then
 * gives its memory and slot back. */
static int evict_one(uint64_t keep)
{
    if (c.hand >= c.fresh) /* only slots handed out hold pages */
        c.hand = 1;
    uint64_t slot = c.hand++;
    uint64_t page = slot < c.fresh ? c.slot_page[slot] : NO_PAGE;
    if (page == NO_PAGE || page == keep || c.pages[page].fetching)
        return MDSM_OK;
    struct cache_page *p = &c.pages[page];
    int rc = MDSM_OK;
    if (p->state == PAGE_CACHED || p->state == PAGE_DIRTY)
        rc = drop(page, p);
    if (rc == MDSM_OK && c.ndraining)
        rc = flush_home(); /* the memory is given back at once */
    if (rc != MDSM_OK)
        return rc;
    space_discard_copies(page, 1);
    free_slot(p);
    mdsm_stat.evictions++;
    return MDSM_OK;
}

static uint64_t take_slot(uint64_t page)
{
    for (;;) {
        if (c.nfree == 0 && c.fresh < c.nslots)
            return c.fresh++;
        for (uint64_t tries = 0; c.nfree == 0 && tries < c.fresh; tries++)
            if (evict_one(page) != MDSM_OK)
                fatal("cannot evict a page");
        if (c.nfree)
            return c.free_slots[--c.nfree];
        pthread_cond_wait(&done, &mu); /* every slot is being fetched into */
    }
}

static int home_open(uint8_t state)
{
    return state == PAGE_HOME_CLEAN || state == PAGE_HOME_DIRTY || state == PAGE_HOME_OPEN;
}

static void note_opened(uint64_t page)
{
    c.opened[c.opened_head++ % c.opened_cap] = page;
    if (c.opened_head - c.opened_tail > c.opened_cap)
        c.opened_tail = c.opened_head - c.opened_cap;
}

/* Closes the run of open home pages around page if that merges mappings.
 * Written pages stay listed: their notices still go out at the release. */
static void close_home_run(uint64_t page, uint64_t keep)
{
    if (!home_open(c.pages[page].state))
        return;
    uint64_t lo = page, hi = page;
    while (lo > 0 && home_open(c.pages[lo - 1].state))
        lo--;
    while (hi + 1 < c.npages && home_open(c.pages[hi + 1].state))
        hi++;
    if (keep >= lo && keep <= hi)
        return;
    /* Boundaries in [lo-1, hi+1] now, and once the run is closed. */
    unsigned closed = key_of(PAGE_HOME_NONE);
    int64_t now = 0, after = 0;
    for (uint64_t q = lo > 0 ? lo - 1 : 0; q < hi + 1 && q + 1 < c.npages; q++) {
        now += key_at(q) != key_at(q + 1);
        unsigned a = q >= lo ? closed : key_at(q), b = q + 1 <= hi ? closed : key_at(q + 1);
        after += a != b;
    }
    if (after >= now)
        return;
    protect_run(lo, hi - lo + 1, PROT_NONE);
    for (uint64_t q = lo; q <= hi; q++)
        set_state(q, PAGE_HOME_NONE);
}

/* Keeps the mappings need below the budget: evicts cached copies (oldest
 * slot first), then closes the home pages opened longest ago where that merges
 * mappings (they stay in place, mapped again at their next access). Never
 * fails: past both, the kernel's reserve is used. */
static void make_room(uint64_t need, uint64_t keep)
{
    for (uint64_t tries = 0; c.maps + need > c.budget && tries < c.fresh; tries++)
        if (evict_one(keep) != MDSM_OK)
            fatal("cannot evict a page");
    while (c.maps + need > c.budget && c.opened_tail < c.opened_head)
        close_home_run(c.opened[c.opened_tail++ % c.opened_cap], keep);
}

static int home_closed(uint8_t state)
{
    return state == PAGE_HOME_CLEAN || state == PAGE_HOME_NONE;
}

/* A write to a home page needs no twin: it only has to be noticed. Ranks
 * usually write their home share front to back, so when the pages just below
 * were written too, this opens a run twice as long for writing (up to
 * HOME_RUN_MAX pages): sequential writes then fault O(log n) times instead of
 * n. Pages opened but not written cost only an unneeded write notice. When
 * mappings are short, the whole stretch of closed home pages around it is
 * opened instead, which merges it with its neighbours. */
#define HOME_RUN_MAX 512

/* Short of mappings: opens the page together with the closed home pages
 * between it and the nearest open run, which then merge (all of the stretch of
 * closed home pages around it if there is no open run next to it). */
static void merging_run(uint64_t page, uint64_t *first, uint64_t *n)
{
    uint64_t lo = page, hi = page; /* [lo, hi]: closed home pages around page */
    while (lo > 0 && home_closed(c.pages[lo - 1].state))
        lo--;
    while (hi + 1 < c.npages && home_closed(c.pages[hi + 1].state))
        hi++;
    int left = lo > 0 && c.pages[lo - 1].state == PAGE_HOME_DIRTY;
    int right = hi + 1 < c.npages && c.pages[hi + 1].state == PAGE_HOME_DIRTY;
    if (left && (!right || page - lo <= hi - page)) {
        *first = lo;
        *n = page - lo + 1;
    } else if (right) {
        *first = page;
        *n = hi - page + 1;
    } else {
        *first = lo;
        *n = hi - lo + 1;
    }
}

static void open_home_run(uint64_t page)
{
    uint64_t first = page, n = 0;
    if (c.maps + 2 > c.budget) {
        merging_run(page, &first, &n);
    } else {
        uint64_t behind = 0;
        while (behind < HOME_RUN_MAX && page > behind &&
               c.pages[page - behind - 1].state == PAGE_HOME_DIRTY)
            behind++;
        while (n <= behind && page + n < c.npages && home_closed(c.pages[page + n].state))
            n++;
    }
    for (uint64_t i = 0; i < n; i++) {
        set_state(first + i, PAGE_HOME_DIRTY);
        list_dirty(first + i, &c.pages[first + i]);
    }
    protect_run(first, n, PROT_READ | PROT_WRITE);
    note_opened(page);
}

/* Faults that call MPI: from a thread other than mdsm_init's only where MPI
 * allows it. */
static void check_thread(void)
{
    if (!mdsm_life.any_thread && !pthread_equal(pthread_self(), mdsm_life.init_thread))
        fatal("mdsm global memory was accessed from a second thread, but MPI does not provide "
              "MPI_THREAD_MULTIPLE: initialise MPI with MPI_Init_thread(MPI_THREAD_MULTIPLE) "
              "for threads");
}

/* A slot that holds no page, without evicting for it, or NO_SLOT. */
static uint64_t spare_slot(void)
{
    if (c.nfree)
        return c.free_slots[--c.nfree];
    return c.fresh < c.nslots ? c.fresh++ : NO_SLOT;
}

/* Misses in a pattern before the first prefetch: short runs, such as a halo
 * row of a few pages, never fetch pages they do not read (which would make
 * the home track writes to them). */
#define PREFETCH_AFTER 4
/* The widest stride, in pages, taken for a pattern. */
#define STRIDE_MAX 64

/* A run of pages fetched together: page, page + stride, ... (n of them). */
struct run {
    uint64_t page, n, stride;
};

/* Claims for a get the pages of r from the from-th on, while fewer than
 * limit: each must be in r->page's allocation (a neighbouring one may be
 * half set up or torn down by mdsm_alloc or mdsm_free, its entries not yet
 * or no longer in step), INVALID, not fetching and homed on home, and take a
 * spare slot if it has none (a guess never evicts). Claimed pages are marked
 * fetching. Sets r->n to where the run ends (from, if none was claimed). */
static void claim_run(struct run *r, uint64_t from, uint64_t limit, int home)
{
    uint64_t n = from;
    struct space_rec a;
    if (!space_lookup(r->page, &a))
        limit = from;
    for (; n < limit && r->page + n * r->stride < a.start + a.npages; n++) {
        uint64_t page = r->page + n * r->stride;
        struct cache_page *q = &c.pages[page];
        if (q->state != PAGE_INVALID || q->fetching || space_rec_home(&a, page) != home)
            break;
        if (q->slot == NO_SLOT) {
            uint64_t slot = spare_slot();
            if (slot == NO_SLOT)
                break;
            q->slot = slot;
            c.slot_page[slot] = page;
        }
        q->fetching = 1;
        q->stale = 0;
    }
    c.nfetching += n - from;
    r->n = n;
}

/* The run a read miss on page fetches: page alone, or once PREFETCH_AFTER
 * misses came in address order at one stride (pages apart, up to
 * STRIDE_MAX), a run twice as long as the last one (2 at first, up to
 * prefetch_max) of the pages that follow at that stride (claim_run). Apart
 * pages may each add two kernel mappings: the run stays within the budget. */
static struct run prefetch_run(uint64_t page, int home)
{
    if (page == c.seq_next) {
        c.seq_misses++;
    } else { /* a new pattern, with the last miss if that was near below */
        uint64_t d = page > c.last_miss ? page - c.last_miss : 0;
        int near = d >= 1 && d <= STRIDE_MAX;
        c.stride = near ? d : 1;
        c.seq_misses = near ? 2 : 1;
    }
    if (c.seq_misses <= PREFETCH_AFTER)
        c.window = 1;
    else
        c.window = c.window * 2 < c.prefetch_max ? c.window * 2 : c.prefetch_max;
    uint64_t limit = c.window, room = c.budget > c.maps + 2 ? (c.budget - c.maps) / 2 : 1;
    if (c.stride > 1 && limit > room)
        limit = room;
    struct run r = {page, 1, c.stride};
    claim_run(&r, 1, limit, home);
    c.last_miss = page;
    c.seq_next = page + r.n * r.stride;
    return r;
}

/* The pages of a fetched run, each readable unless invalidated meanwhile:
 * one protection change per stretch of adjacent ones. */
static void cache_run(const struct run *r)
{
    for (uint64_t i = 0; i < r->n;) {
        uint64_t page = r->page + i * r->stride;
        if (c.pages[page].stale) {
            c.pages[page].stale = 0;
            i++;
            continue;
        }
        uint64_t len = 1;
        while (r->stride == 1 && i + len < r->n && !c.pages[page + len].stale)
            len++;
        protect_run(page, len, PROT_READ);
        for (uint64_t k = 0; k < len; k++)
            set_state(page + k, PAGE_CACHED);
        i += len;
    }
}

/* Fetches the claimed run r from home: its sharer bytes, then one get
 * (adjacent pages) or a get per page and one flush (a copy of the first page
 * into twin, if not NULL). The mutex is dropped meanwhile: the pages are
 * marked fetching, so their slots are not evicted and threads faulting on
 * them wait. On return (the mutex held) they are not fetching any more; on
 * failure they stay INVALID. */
static int get_run(const struct run *r, int home, unsigned char *twin)
{
    uint64_t page = r->page, n = r->n;
    int announce = 0;
    for (uint64_t i = 0; i < n; i++)
        announce |= !c.pages[page + i * r->stride].announced;
    pthread_mutex_unlock(&mu);
    /* The sharer bytes are complete at the home before the get reads the
     * pages: a home that has not seen them yet has not released since, so
     * every write it makes after the get is noticed at its next release. */
    int rc = announce ? rma_mark(home, space_sharers_disp(page), n, r->stride) : MDSM_OK;
    if (rc == MDSM_OK && r->stride == 1)
        rc = rma_get(home, space_disp(page), space_cache_view(page), n * c.page_size);
    else if (rc == MDSM_OK)
        rc = rma_get_strided(home, space_disp(page), space_cache_view(page), c.page_size, n,
                             r->stride * c.page_size);
    if (rc == MDSM_OK && twin)
        memcpy(twin, space_cache_view(page), c.page_size);
    pthread_mutex_lock(&mu);
    for (uint64_t i = 0; i < n; i++) {
        c.pages[page + i * r->stride].fetching = 0;
        c.pages[page + i * r->stride].announced |= rc == MDSM_OK;
    }
    c.nfetching -= n;
    pthread_cond_broadcast(&done);
    if (rc != MDSM_OK)
        return rc;
    mdsm_stat.pages_fetched += n;
    mdsm_stat.bytes_fetched += n * c.page_size;
    return MDSM_OK;
}

/* A remote page this rank does not hold: fetched into the cache view (memory
 * it kept, if it held the page before), then one protection change; a read
 * miss may take pages after it too (prefetch_run), in the same transfer. One
 * invalidated meanwhile stays INVALID and faults again. */
static void fetch(void *addr, uint64_t page, struct cache_page *p, int is_write, int home)
{
    check_thread();
    p->fetching = 1;
    p->stale = 0;
    c.nfetching++; /* before take_slot, which may wait: holds off cache_on_free */
    wd_fault_begin(addr, page, home, is_write);
    if (p->slot == NO_SLOT) {
        p->slot = take_slot(page);
        c.slot_page[p->slot] = page;
    }
    struct run r = {page, 1, 1};
    if (!is_write)
        r = prefetch_run(page, home);
    wd_step(&wd_fault, WD_FAULT_FETCH);
    if (get_run(&r, home, is_write ? twin_of(p) : NULL) != MDSM_OK)
        fatal("cannot fetch a page from its home");
    wd_end(&wd_fault);
    mdsm_stat.read_faults++;
    mdsm_stat.pages_prefetched += r.n - 1;
    if (!is_write) {
        cache_run(&r);
        return;
    }
    if (p->stale) {
        p->stale = 0;
        return;
    }
    protect(page, PROT_READ | PROT_WRITE);
    set_state(page, PAGE_DIRTY);
    list_dirty(page, p);
    mdsm_stat.write_faults++;
}

/* Pages one hinted get takes at most: n * MDSM_PAGE_SIZE (1 MiB at most)
 * stays within MPI's int count. */
#define HINT_RUN_MAX 1024

int cache_prefetch(uint64_t first, uint64_t npages)
{
    int rc = MDSM_OK;
    pthread_mutex_lock(&mu);
    for (uint64_t page = first, end = first + npages; page < end && rc == MDSM_OK;) {
        if (c.pages[page].state != PAGE_INVALID || c.pages[page].fetching) {
            page++;
            continue;
        }
        if (c.maps + 2 > c.budget) /* a run may add two mappings; a hint never evicts */
            break;
        int home = space_home(page);
        uint64_t left = end - page;
        struct run r = {page, 0, 1};
        claim_run(&r, 0, left < HINT_RUN_MAX ? left : HINT_RUN_MAX, home);
        if (r.n == 0) /* no spare slot */
            break;
        rc = get_run(&r, home, NULL);
        if (rc == MDSM_OK) {
            mdsm_stat.pages_prefetched += r.n;
            cache_run(&r);
        }
        page += r.n;
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

/* Writes to the page need not be noticed: every rank uses it in place, or it
 * is this rank's own and no other node has fetched it. */
static int untracked(uint64_t page, const struct cache_page *p)
{
    return mdsm_space.untracked || (space_home(page) == mdsm_space.rank && !p->shared);
}

static int resolve(void *addr, uint64_t page, struct cache_page *p, int is_write)
{
    /* A remote page's home, looked up once; none: not in a live allocation.
     * (A draining copy turns INVALID when the flush below completes.) */
    int home = -1;
    if ((p->state == PAGE_INVALID || p->state == PAGE_DRAINING) && !p->fetching) {
        home = space_home(page);
        if (home < 0)
            return 0;
    }
    if (p->fetching) { /* another thread fetches it: wait for the data, then retry */
        while (p->fetching)
            pthread_cond_wait(&done, &mu);
        return 1;
    }
    if (p->state == PAGE_DRAINING) {
        check_thread();
        if (flush_home() != MDSM_OK)
            fatal("cannot complete the write of a dropped page"); /* its memory is reused now */
    }
    if (p->state != PAGE_DIRTY && p->state != PAGE_HOME_DIRTY && p->state != PAGE_HOME_OPEN &&
        c.maps + 2 > c.budget) {
        check_thread(); /* eviction writes diffs and flushes */
        make_room(2, page);
    }
    switch (p->state) {
    case PAGE_INVALID: fetch(addr, page, p, is_write, home); return 1;
    case PAGE_CACHED: /* only writes fault on a read-only copy */
        memcpy(twin_of(p), space_cache_view(page), c.page_size);
        protect(page, PROT_READ | PROT_WRITE);
        set_state(page, PAGE_DIRTY);
        list_dirty(page, p);
        mdsm_stat.write_faults++;
        return 1;
    case PAGE_HOME_NONE:
        if (untracked(page, p)) { /* nothing to notice: open for good */
            protect(page, PROT_READ | PROT_WRITE);
            set_state(page, PAGE_HOME_OPEN);
            note_opened(page);
            if (is_write) {
                mdsm_stat.write_faults++;
                mdsm_stat.node_write_faults++;
            } else {
                mdsm_stat.read_faults++;
                mdsm_stat.node_read_faults++;
            }
            return 1;
        }
        if (!is_write) {
            protect(page, PROT_READ);
            set_state(page, PAGE_HOME_CLEAN);
            note_opened(page);
            mdsm_stat.read_faults++;
            mdsm_stat.node_read_faults++;
            return 1;
        }
        /* fall through */
    case PAGE_HOME_CLEAN:
        open_home_run(page);
        mdsm_stat.write_faults++;
        mdsm_stat.node_write_faults++;
        return 1;
    default: /* already resolved (another thread) */
        wd_fault_retried(addr, p->state == PAGE_DIRTY       ? "dirty"
                               : p->state == PAGE_HOME_OPEN ? "home open"
                                                            : "home dirty");
        return 1;
    }
}

int cache_fault(void *addr, int is_write)
{
    uint64_t page = space_page_of(addr);
    pthread_mutex_lock(&mu);
    int rc = resolve(addr, page, &c.pages[page], is_write);
    pthread_mutex_unlock(&mu);
    return rc;
}

static int by_page(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* p->listed beyond 1, during a release (1: closed, and a home page noticed): */
#define LISTED_PUT   2 /* a remote page closed, its diff in flight */
#define LISTED_KEEP  3 /* changed this interval (a remote page's diff in flight): stays writable */
#define LISTED_CLOSE 4 /* a remote page unchanged since its twin: closed, then diffed again */

static int written_now(const struct cache_page *p)
{
    return p->state == PAGE_DIRTY || p->state == PAGE_HOME_DIRTY;
}

/* Pages a release write-protects. */
static int closing(const struct cache_page *p)
{
    return (p->state == PAGE_DIRTY && p->listed == LISTED_CLOSE) ||
           (p->state == PAGE_HOME_DIRTY && p->listed != LISTED_KEEP);
}

/* Sets prot on the listed pages which() selects, one mprotect per run of
 * neighbours (the list is sorted). */
static void protect_listed(int prot, int (*which)(const struct cache_page *))
{
    uint64_t run = 0, run_len = 0;
    for (uint64_t i = 0; i < c.ndirty; i++) {
        uint64_t page = c.dirty[i];
        if (!which(&c.pages[page]))
            continue;
        if (run_len && run + run_len == page) {
            run_len++;
            continue;
        }
        if (run_len)
            protect_run(run, run_len, prot);
        run = page;
        run_len = 1;
    }
    if (run_len)
        protect_run(run, run_len, prot);
}

/* An own home page another node has fetched: read-only from now on, so that
 * writes are noticed, and noticed once now, since this rank may have written
 * it since the fetch. Within the mapping budget: short of mappings, the open
 * run around it is closed instead (mapped again at its next access). */
static void now_shared(uint64_t page)
{
    struct cache_page *p = &c.pages[page];
    if (space_home(page) != mdsm_space.rank || p->shared)
        return;
    p->shared = 1;
    if (p->state == PAGE_HOME_OPEN && c.maps + 2 > c.budget) {
        make_room(2, NO_PAGE);
        if (c.maps + 2 > c.budget)
            close_home_run(page, NO_PAGE);
    }
    if (p->state == PAGE_HOME_OPEN) {
        protect(page, PROT_READ);
        set_state(page, PAGE_HOME_CLEAN);
    }
    if (p->state != PAGE_HOME_DIRTY) /* a dirty one is noticed by the release */
        c.written(page);
    mdsm_stat.shared_home_pages++;
}

/* Acts on the sharer bytes set since the last release, reading only those of
 * this rank's home spans, eight at a time where nothing changed. */
static void classify_locked(void)
{
    if (!c.classify || c.nspans == 0)
        return;
    rma_home_sync();
    for (size_t i = 0; i < c.nspans; i++) {
        for (uint64_t q = c.spans[i].lo; q <= c.spans[i].hi;) {
            if ((q & 7) == 0 && q + 8 <= c.spans[i].hi + 1) {
                uint64_t seen8;
                memcpy(&seen8, &c.sharers_seen[q], sizeof(seen8));
                if (__atomic_load_n((const uint64_t *)space_sharers(q), __ATOMIC_RELAXED) ==
                    seen8) {
                    q += 8;
                    continue;
                }
            }
            uint8_t now = __atomic_load_n(space_sharers(q), __ATOMIC_RELAXED);
            if (now != c.sharers_seen[q]) {
                c.sharers_seen[q] = now;
                now_shared(q);
            }
            q++;
        }
    }
}

/* A shared home page written in two intervals in a row is likely written in
 * the next (data under a lock, a boundary row). Write-protecting it again
 * costs two mprotect calls and a write fault per interval (about 7 us in a
 * VM); instead it stays writable with a twin, and each release compares it
 * with the twin (diff_update, about 0.4 us for 4 KiB): an interval that left
 * it unchanged closes it. (A page written once is closed at once: closing it
 * a release later would move its mprotect to a time when other ranks may be
 * reading this rank's memory, which mprotect holds up.) The compare decides
 * only that: a page open for writing is noticed at every release, since
 * other ranks write home memory too (diffs, node peers), so equal to the
 * twin does not mean unwritten. Pages homed on node peers, and a run of
 * written neighbours longer than HOT_RUN_BYTES (one mprotect and a few
 * faults, as open_home_run doubles, then cost less than comparing every
 * page), are closed as before. Marks the listed HOME_DIRTY pages LISTED_KEEP
 * (stays writable) or leaves them at 1 (closed). */
#define HOT_RUN_BYTES (64u << 10)

static void track_home_pages(void)
{
    uint64_t max_run = HOT_RUN_BYTES / c.page_size ? HOT_RUN_BYTES / c.page_size : 1;
    for (uint64_t i = 0, run = 0; i < c.ndirty; i += run) {
        /* [i, i + run): listed HOME_DIRTY neighbours (the list is sorted) */
        run = 0;
        while (i + run < c.ndirty && c.pages[c.dirty[i + run]].state == PAGE_HOME_DIRTY &&
               (run == 0 || c.dirty[i + run] == c.dirty[i] + run))
            run++;
        if (run == 0) {
            run = 1;
            continue;
        }
        for (uint64_t j = i; j < i + run; j++) {
            uint64_t page = c.dirty[j];
            struct cache_page *p = &c.pages[page];
            const unsigned char *mem = (const unsigned char *)space_page_addr(page);
            int keep = run <= max_run && space_home(page) == mdsm_space.rank &&
                       (p->hot || (p->closed_at && p->closed_at == (uint8_t)(c.releases - 1)));
            if (p->hot) {
                if (diff_update(mem, hot_twin(p), c.page_size) && keep)
                    p->listed = LISTED_KEEP;
            } else if (keep && c.nhot_free) {
                p->hot = c.hot_free[--c.nhot_free];
                memcpy(hot_twin(p), mem, c.page_size);
                p->listed = LISTED_KEEP;
            }
        }
    }
}

/* A written remote page's diff, from a compare that also updates its twin
 * (diff_runs_update), with listed set to what follows: LISTED_KEEP (changed:
 * stays writable), LISTED_PUT (closed, changed) or LISTED_CLOSE (unchanged).
 * Returns the error. */
static int diff_remote(uint64_t page, struct cache_page *p, int closed)
{
    int put = 0, rc = write_diff(page, p, 1, &put);
    p->listed = put ? (closed ? LISTED_PUT : LISTED_KEEP) : LISTED_CLOSE;
    return rc;
}

/* A remote page another thread refreshes now (its get in flight, the mutex
 * dropped) is merged when the get lands: its diff waits for that. Any wait
 * drops the mutex, so the list is scanned again from the start. */
static void wait_refreshes(void)
{
    uint64_t i = 0;
    while (i < c.ndirty) {
        const struct cache_page *p = &c.pages[c.dirty[i]];
        if (p->fetching && p->state == PAGE_DIRTY) {
            pthread_cond_wait(&done, &mu);
            i = 0;
        } else {
            i++;
        }
    }
}

/* A failed diff or flush leaves the homes behind the twins (which already
 * hold what was being written), and a diff cannot be rebuilt: the release and
 * every later one fail rather than go on with homes that silently differ.
 * The pages stay listed and writable. */
static int release_failed(int rc)
{
    c.failed = rc;
    for (uint64_t i = 0; i < c.ndirty; i++) {
        struct cache_page *p = &c.pages[c.dirty[i]];
        p->listed = 1;
        drop_hot(p);
    }
    protect_listed(PROT_READ | PROT_WRITE, written_now);
    return mdsm_fail(rc, "mdsm_release: writes of this rank may not have reached their homes "
                         "(a put or MPI_Win_flush failed); every later release fails too");
}

/* A written remote page stays writable too, for the same reason as home
 * pages (track_home_pages), and its twin is kept: each release diffs it
 * against the twin and updates the twin with what it read. It is closed at
 * the first release that finds it unchanged. */
static int release_locked(void)
{
    if (c.failed)
        return mdsm_fail(c.failed, "mdsm_release: an earlier release failed, so the homes may "
                                   "lack writes of this rank");
    int rc = MDSM_OK;
    wait_refreshes();
    classify_locked();
    /* In address order, so that neighbouring pages share one mprotect. */
    qsort(c.dirty, c.ndirty, sizeof(*c.dirty), by_page);
    track_home_pages();
    for (uint64_t i = 0; i < c.ndirty; i++) {
        struct cache_page *p = &c.pages[c.dirty[i]];
        int wrc = p->state == PAGE_DIRTY ? diff_remote(c.dirty[i], p, 0) : MDSM_OK;
        if (wrc != MDSM_OK && rc == MDSM_OK)
            rc = wrc;
    }
    /* The pages that close are write-protected; a remote one is then diffed
     * once more: a thread that wrote before the protection is seen now, one
     * writing after it faults and waits for this release. Then one flush, and
     * the new states. */
    protect_listed(PROT_READ, closing);
    for (uint64_t i = 0; i < c.ndirty; i++) {
        struct cache_page *p = &c.pages[c.dirty[i]];
        if (p->state != PAGE_DIRTY || p->listed != LISTED_CLOSE)
            continue;
        int wrc = diff_remote(c.dirty[i], p, 1);
        if (wrc != MDSM_OK && rc == MDSM_OK)
            rc = wrc;
    }
    int frc = flush_home();
    if (rc != MDSM_OK || frc != MDSM_OK)
        return release_failed(rc != MDSM_OK ? rc : frc);
    uint64_t kept = 0;
    for (uint64_t i = 0; i < c.ndirty; i++) {
        uint64_t page = c.dirty[i];
        struct cache_page *p = &c.pages[page];
        int listed = p->listed;
        p->listed = 0;
        if (listed == LISTED_KEEP && (p->state == PAGE_DIRTY || p->state == PAGE_HOME_DIRTY)) {
            c.written(page);
            p->listed = 1;
            c.dirty[kept++] = page; /* open for the next interval (kept <= i) */
        } else if (p->state == PAGE_DIRTY) {
            set_state(page, PAGE_CACHED);
            if (listed == LISTED_PUT)
                c.written(page);
        } else if (p->state == PAGE_HOME_DIRTY) {
            set_state(page, PAGE_HOME_CLEAN); /* gives its hot twin back */
            p->closed_at = (uint8_t)c.releases;
            c.written(page);
        } else if (p->state == PAGE_HOME_NONE || p->state == PAGE_HOME_CLEAN) {
            c.written(page); /* written, then closed by make_room */
        }                    /* else evicted or invalidated since it was listed: noticed then */
    }
    c.ndirty = kept;
    c.releases++;
    return MDSM_OK;
}

int cache_release(void)
{
    pthread_mutex_lock(&mu);
    int rc = release_locked();
    pthread_mutex_unlock(&mu);
    return rc;
}

static int invalidate_locked(uint64_t page)
{
    struct cache_page *p = &c.pages[page];
    if (p->fetching) { /* the data in flight may predate the notice */
        p->stale = 1;
        mdsm_stat.invalidations++;
        return MDSM_OK;
    }
    if (p->state != PAGE_CACHED && p->state != PAGE_DIRTY)
        return MDSM_OK;
    mdsm_stat.invalidations++;
    return drop(page, p);
}

int cache_invalidate(uint64_t page)
{
    pthread_mutex_lock(&mu);
    int rc = invalidate_locked(page);
    pthread_mutex_unlock(&mu);
    return rc;
}

/* The get of a refresh, into buf, with the mutex dropped. Meanwhile the page
 * is fetching: a write fault on it waits (a twin must not catch the get half
 * done), a release waits before diffing it, it is not evicted, and a newer
 * notice marks it stale. */
static int refresh_get(uint64_t page, struct cache_page *p, void *buf)
{
    p->fetching = 1;
    p->stale = 0;
    c.nfetching++;
    pthread_mutex_unlock(&mu);
    int rc = rma_get(space_home(page), space_disp(page), buf, c.page_size);
    pthread_mutex_lock(&mu);
    p->fetching = 0;
    c.nfetching--;
    pthread_cond_broadcast(&done);
    if (rc == MDSM_OK) {
        mdsm_stat.pages_fetched++;
        mdsm_stat.bytes_fetched += c.page_size;
        mdsm_stat.pages_refreshed++;
    }
    return rc;
}

/* A refresh that failed, or whose data may predate a newer notice: dropped. */
static int refresh_failed(uint64_t page, struct cache_page *p)
{
    p->stale = 0;
    return invalidate_locked(page);
}

/* A read-only copy: the get lands in it. The holder of the lock most likely
 * writes what it guards: a twin now saves that write's fault. Unwritten, the
 * release finds no diff and logs no notice. A thread writing meanwhile
 * faults, then waits for the mutex. Not where the change could exceed the
 * mappings. */
static int refresh_cached(uint64_t page, struct cache_page *p)
{
    if (refresh_get(page, p, space_cache_view(page)) != MDSM_OK || p->stale)
        return refresh_failed(page, p);
    if (c.maps + 2 <= c.budget) {
        memcpy(twin_of(p), space_cache_view(page), c.page_size);
        protect(page, PROT_READ | PROT_WRITE);
        set_state(page, PAGE_DIRTY);
        list_dirty(page, p);
    }
    return MDSM_OK;
}

/* A copy kept writable (PAGE_DIRTY): the get lands in a spare slot's twin
 * memory, then is merged into the page where this rank has not written it
 * since its twin (diff_merge), with no change of protection: threads may go
 * on writing it. Invalidated where no slot is spare. */
static int refresh_writable(uint64_t page, struct cache_page *p)
{
    uint64_t spare = spare_slot();
    if (spare == NO_SLOT)
        return invalidate_locked(page);
    c.slot_page[spare] = NO_PAGE;
    unsigned char *home = c.twins + spare * c.page_size;
    int rc = refresh_get(page, p, home);
    if (rc == MDSM_OK && !p->stale)
        diff_merge((unsigned char *)space_cache_view(page), twin_of(p), home, c.page_size);
    c.free_slots[c.nfree++] = spare;
    return rc == MDSM_OK && !p->stale ? MDSM_OK : refresh_failed(page, p);
}

int cache_refresh(uint64_t page)
{
    pthread_mutex_lock(&mu);
    struct cache_page *p = &c.pages[page];
    int rc = p->fetching               ? invalidate_locked(page)
             : p->state == PAGE_DIRTY  ? refresh_writable(page, p)
             : p->state == PAGE_CACHED ? refresh_cached(page, p)
                                       : invalidate_locked(page);
    pthread_mutex_unlock(&mu);
    return rc;
}

int cache_invalidate_where(int (*stale)(uint64_t page, const void *arg), const void *arg)
{
    int rc = MDSM_OK;
    pthread_mutex_lock(&mu);
    for (uint64_t s = 1; s < c.fresh; s++) {
        if (c.slot_page[s] != NO_PAGE && (!stale || stale(c.slot_page[s], arg))) {
            int irc = invalidate_locked(c.slot_page[s]);
            if (irc != MDSM_OK && rc == MDSM_OK)
                rc = irc;
        }
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

int cache_flush(void)
{
    pthread_mutex_lock(&mu);
    int rc = flush_home();
    pthread_mutex_unlock(&mu);
    return rc;
}

/* The state the pages of a new allocation's run from page (one home) start in. */
static uint8_t initial_state(const struct space_rec *r, uint64_t page, int lazy)
{
    int home = space_rec_home(r, page);
    if (!space_node_homes(home))
        return PAGE_INVALID;
    if (lazy)
        return PAGE_HOME_NONE;
    return space_open_at_alloc(home) ? PAGE_HOME_OPEN : PAGE_HOME_CLEAN;
}

/* How many mappings the allocation adds in the given mode. Its pages are all
 * INVALID now; afterwards only the boundaries between its runs of one home
 * and at its two ends can differ: O(runs). */
static int64_t alloc_cost(uint64_t start, uint64_t npages, int lazy)
{
    struct space_rec r;
    if (!space_lookup(start, &r))
        return 0;
    uint64_t end = start + npages;
    unsigned before = start > 0 ? key_at(start - 1) : 0, inside = key_of(PAGE_INVALID);
    int64_t delta = 0;
    if (start > 0) /* the boundary before the first page */
        delta -= before != inside;
    if (end < c.npages)
        delta -= inside != key_at(end);
    unsigned prev = before;
    int edge = start > 0;
    for (uint64_t p = start, q; p < end; p = q) {
        q = space_rec_run_end(&r, p);
        unsigned k = key_of(initial_state(&r, p, lazy));
        if (edge)
            delta += k != prev;
        prev = k;
        edge = 1;
    }
    if (end < c.npages)
        delta += prev != key_at(end);
    return delta;
}

static int fits(uint64_t start, uint64_t npages, int *lazy)
{
    for (*lazy = 0; *lazy <= 1; (*lazy)++) {
        int64_t need = alloc_cost(start, npages, *lazy);
        if (need > 0 && c.maps + (uint64_t)need > c.budget)
            make_room((uint64_t)need, NO_PAGE);
        if (need <= 0 || c.maps + (uint64_t)need <= c.budget)
            return 1;
    }
    *lazy = 1;
    return 0;
}

int cache_fit_alloc(uint64_t start, uint64_t npages, size_t bytes, int *lazy)
{
    pthread_mutex_lock(&mu);
    if (c.nspans == c.cap_spans) { /* room for this allocation's span (cache_on_alloc) */
        size_t cap = c.cap_spans ? 2 * c.cap_spans : 16;
        struct home_span *t = realloc(c.spans, cap * sizeof(*t));
        if (!t) {
            pthread_mutex_unlock(&mu);
            return mdsm_fail(MDSM_ERR_NO_MEMORY, "mdsm_alloc(%zu): home span table", bytes);
        }
        c.spans = t;
        c.cap_spans = cap;
    }
    int ok = fits(start, npages, lazy);
    int64_t need = ok ? 0 : alloc_cost(start, npages, 1);
    uint64_t used = c.maps;
    pthread_mutex_unlock(&mu);
    if (ok)
        return MDSM_OK;
    return mdsm_fail(MDSM_ERR_NO_MEMORY,
                     "mdsm_alloc(%zu): its pages would need %lld more memory mappings, beyond "
                     "what this rank may use (%llu, from vm.max_map_count %llu and "
                     "MDSM_MAX_MAPPINGS; %llu in use): its homes alternate too often between "
                     "this node and others. Use a larger MDSM_PAGE_SIZE (now %zu), block "
                     "distribution, or raise vm.max_map_count",
                     bytes, (long long)need, (unsigned long long)c.budget,
                     (unsigned long long)c.kernel_max, (unsigned long long)used, c.page_size);
}

/* Records where this rank's home pages lie in [start, start+npages) (room
 * reserved by cache_fit_alloc). */
static void add_span(uint64_t start, uint64_t npages)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    struct space_rec r;
    if (!space_lookup(start, &r))
        return;
    for (uint64_t pg = start, end; pg < start + npages; pg = end) { /* run by run */
        end = space_rec_run_end(&r, pg);
        if (space_rec_home(&r, pg) == mdsm_space.rank) {
            lo = lo == UINT64_MAX ? pg : lo;
            hi = end - 1;
        }
    }
    if (c.classify && lo != UINT64_MAX && c.nspans < c.cap_spans)
        c.spans[c.nspans++] = (struct home_span){lo, hi};
}

void cache_on_alloc(uint64_t start, uint64_t npages, int lazy)
{
    struct space_rec r;
    pthread_mutex_lock(&mu);
    add_span(start, npages);
    /* Only pages homed on this node: remote pages' entries are zero (INVALID,
     * no slot) since cache_init or cache_on_free, and stay untouched until
     * they are accessed. */
    if (space_lookup(start, &r))
        for (uint64_t pg = start, end; pg < start + npages; pg = end) {
            end = space_rec_run_end(&r, pg);
            uint8_t state = initial_state(&r, pg, lazy);
            for (uint64_t q = pg; state != PAGE_INVALID && q < end; q++)
                set_state(q, state);
        }
    pthread_mutex_unlock(&mu);
}

void cache_on_free(uint64_t start, uint64_t npages)
{
    pthread_mutex_lock(&mu);
    /* A fetch into the range (a thread touching memory being freed) must end
     * before its slot is given back. */
    while (c.nfetching)
        pthread_cond_wait(&done, &mu);
    /* Copies still draining after a failed flush: their puts must end before
     * the range's memory is given back. A second failure leaves them to MPI's error. */
    if (c.ndraining && flush_home() != MDSM_OK) {
        uint64_t left = 0;
        for (uint64_t i = 0; i < c.ndraining; i++)
            if (c.draining[i] < start || c.draining[i] >= start + npages)
                c.draining[left++] = c.draining[i];
        c.ndraining = left;
    }
    /* Touch only what was used: copies (through the slots, or the range where
     * that is shorter), then the node's home pages run by run, so that the
     * mapping count stays right; then every entry of the range goes back to
     * zero, its memory given back. */
    uint64_t end = start + npages;
    if (npages < c.fresh) { /* whichever is shorter: the range or the slots used */
        for (uint64_t pg = start; pg < end; pg++)
            if (c.pages[pg].slot != NO_SLOT) {
                free_slot(&c.pages[pg]);
                set_state(pg, PAGE_INVALID);
            }
    } else {
        for (uint64_t slot = 1; slot < c.fresh; slot++) {
            uint64_t pg = c.slot_page[slot];
            if (pg != NO_PAGE && pg >= start && pg < end) {
                free_slot(&c.pages[pg]);
                set_state(pg, PAGE_INVALID);
            }
        }
    }
    struct space_rec r;
    if (space_lookup(start, &r))
        for (uint64_t pg = start, q; pg < end; pg = q) {
            q = space_rec_run_end(&r, pg);
            if (space_node_homes(space_rec_home(&r, pg)))
                for (uint64_t h = pg; h < q; h++)
                    set_state(h, PAGE_INVALID);
        }
    lazy_zero(c.pages, start * sizeof(*c.pages), npages * sizeof(*c.pages));
    lazy_zero(c.sharers_seen, start, npages); /* space_free clears the bytes */
    size_t left = 0;
    for (size_t i = 0; i < c.nspans; i++)
        if (c.spans[i].hi < start || c.spans[i].lo >= start + npages)
            c.spans[left++] = c.spans[i];
    c.nspans = left;
    /* Forget the freed pages' pending changes. */
    uint64_t kept = 0;
    for (uint64_t i = 0; i < c.ndirty; i++)
        if (c.dirty[i] < start || c.dirty[i] >= start + npages)
            c.dirty[kept++] = c.dirty[i];
    c.ndirty = kept;
    pthread_mutex_unlock(&mu);
}
