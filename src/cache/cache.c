#include "cache/cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cache/diff.h"
#include "common/error.h"
#include "common/lazy.h"
#include "common/log.h"
#include "rma/rma.h"
#include "space/space.h"
#include "stats/stats.h"
#include "watchdog/watchdog.h"

#define NO_SLOT UINT64_MAX

struct cache_page {
    uint8_t state;
    uint8_t listed; /* in the dirty list */
    uint64_t slot;  /* cache slot of a remote page, or NO_SLOT */
};

static struct {
    struct cache_page *pages; /* one per global page */
    size_t page_size;
    uint64_t nslots;
    uint64_t *slot_page;  /* page held by each slot below fresh, or NO_SLOT */
    uint64_t *free_slots; /* stack of released slots */
    uint64_t nfree;
    uint64_t fresh; /* slots from here on were never used: tables stay untouched */
    uint64_t hand;  /* next eviction candidate (FIFO over slots) */
    unsigned char *twins;
    uint64_t *dirty; /* pages written this interval */
    uint64_t ndirty;
    uint64_t *draining; /* dropped copies whose diff is in flight: kept mapped until flushed */
    uint64_t ndraining;
    struct mdsm_run *runs;
    cache_written_fn written;
} c;

int cache_init(const struct mdsm_settings *s, cache_written_fn written)
{
    memset(&c, 0, sizeof(c));
    uint64_t npages = mdsm_space.npages;
    c.page_size = s->page_size;
    c.nslots = s->cache_size / s->page_size;
    c.written = written;
    c.pages = lazy_array(npages * sizeof(*c.pages));
    c.dirty = lazy_array(npages * sizeof(*c.dirty));
    c.draining = lazy_array(c.nslots * sizeof(*c.draining));
    c.twins = lazy_array(c.nslots * c.page_size);
    c.slot_page = lazy_array(c.nslots * sizeof(*c.slot_page));
    c.free_slots = lazy_array(c.nslots * sizeof(*c.free_slots));
    c.runs = malloc((c.page_size / 2 + 1) * sizeof(*c.runs));
    if (!c.pages || !c.dirty || !c.draining || !c.twins || !c.slot_page || !c.free_slots ||
        !c.runs) {
        cache_fini();
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "cache: tables for %llu slots",
                                  (unsigned long long)c.nslots);
    }
    return MDSM_OK;
}

void cache_fini(void)
{
    uint64_t npages = mdsm_space.npages;
    if (c.pages)
        munmap(c.pages, npages * sizeof(*c.pages));
    if (c.dirty)
        munmap(c.dirty, npages * sizeof(*c.dirty));
    if (c.draining)
        munmap(c.draining, c.nslots * sizeof(*c.draining));
    if (c.twins)
        munmap(c.twins, c.nslots * c.page_size);
    if (c.slot_page)
        munmap(c.slot_page, c.nslots * sizeof(*c.slot_page));
    if (c.free_slots)
        munmap(c.free_slots, c.nslots * sizeof(*c.free_slots));
    free(c.runs);
    memset(&c, 0, sizeof(c));
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
    fatal(err == ENOMEM ? "cannot change page protection (vm.max_map_count too low?)"
                        : "cannot change page protection");
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

/* Frees the memory of a cached copy and makes the page inaccessible again. */
static void drop_copy(uint64_t page)
{
    if (mmap(space_page_addr(page), c.page_size, PROT_NONE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED) {
        mdsm_fail_internal(MDSM_ERR_SYSTEM, "mmap: %s", strerror(errno));
        fatal("cannot drop a cached page");
    }
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
 * RMA operation now reads the page. Pending until flushed: until then the
 * page must stay mapped, unprotected and unchanged, because some transports
 * (TCP) read a put's source only when the put is progressed or flushed. */
static int write_diff(uint64_t page, struct cache_page *p, int *put)
{
    size_t changed = 0;
    *put = 0;
    int n = diff_runs((const unsigned char *)space_page_addr(page), twin_of(p), c.page_size, c.runs,
                      &changed);
    if (n == 0)
        return MDSM_OK;
    const struct space_page *sp = &mdsm_space.pages[page];
    int rc = rma_put_runs(sp->home, sp->home_disp, space_page_addr(page), c.runs, n);
    if (rc != MDSM_OK)
        return rc;
    *put = 1;
    mdsm_stat.diffs++;
    mdsm_stat.diff_bytes += changed;
    c.written(page);
    return MDSM_OK;
}

static void free_slot(struct cache_page *p)
{
    c.slot_page[p->slot] = NO_SLOT;
    c.free_slots[c.nfree++] = p->slot;
    p->slot = NO_SLOT;
}

static void finish_drop(uint64_t page, struct cache_page *p)
{
    drop_copy(page);
    free_slot(p);
    p->state = PAGE_INVALID;
}

/* Drops a remote page's copy. A dirty copy's changes go home first: the copy
 * then drains (keeps its memory and slot) until finish_draining, after the
 * flush. On failure the copy stays dirty, its changes kept. */
static int drop(uint64_t page, struct cache_page *p)
{
    int put = 0;
    if (p->state == PAGE_DIRTY) {
        int rc = write_diff(page, p, &put);
        if (rc != MDSM_OK)
            return rc;
    }
    if (!put) {
        finish_drop(page, p);
        return MDSM_OK;
    }
    p->state = PAGE_DRAINING;
    c.draining[c.ndraining++] = page;
    return MDSM_OK;
}

/* After a successful flush: no RMA reads a drained copy any more. */
static void finish_draining(void)
{
    for (uint64_t i = 0; i < c.ndraining; i++) {
        struct cache_page *p = &c.pages[c.draining[i]];
        if (p->state == PAGE_DRAINING)
            finish_drop(c.draining[i], p);
    }
    c.ndraining = 0;
}

static int flush_home(void)
{
    int rc = rma_flush_home();
    if (rc == MDSM_OK)
        finish_draining();
    return rc;
}

static int evict_one(void)
{
    uint64_t slot = c.hand;
    c.hand = (c.hand + 1) % c.nslots;
    uint64_t page = c.slot_page[slot];
    int rc = drop(page, &c.pages[page]);
    if (rc == MDSM_OK && c.ndraining)
        rc = flush_home(); /* the slot is reused at once */
    mdsm_stat.evictions++;
    return rc;
}

static uint64_t take_slot(void)
{
    if (c.nfree == 0 && c.fresh < c.nslots)
        return c.fresh++;
    if (c.nfree == 0 && evict_one() != MDSM_OK)
        fatal("cannot evict a page");
    return c.free_slots[--c.nfree];
}

/* A write to a home page needs no twin: it only has to be noticed. Ranks
 * usually write their home share front to back, so when the pages just below
 * were written too, this opens a run twice as long for writing (up to
 * HOME_RUN_MAX pages): sequential writes then fault O(log n) times instead of
 * n. Pages opened but not written cost only an unneeded write notice. */
#define HOME_RUN_MAX 512

static void open_home_run(uint64_t page)
{
    uint64_t behind = 0;
    while (behind < HOME_RUN_MAX && page > behind &&
           c.pages[page - behind - 1].state == PAGE_HOME_DIRTY)
        behind++;
    uint64_t n = 0;
    while (n <= behind && page + n < mdsm_space.npages &&
           c.pages[page + n].state == PAGE_HOME_CLEAN) {
        c.pages[page + n].state = PAGE_HOME_DIRTY;
        list_dirty(page + n, &c.pages[page + n]);
        n++;
    }
    protect_run(page, n, PROT_READ | PROT_WRITE);
}

int cache_fault(void *addr, int is_write)
{
    uint64_t page = space_page_of(addr);
    struct cache_page *p = &c.pages[page];
    switch (p->state) {
    case PAGE_UNUSED: return 0;
    case PAGE_INVALID: {
        const struct space_page *sp = &mdsm_space.pages[page];
        wd_fault_begin(addr, page, sp->home, is_write);
        p->slot = take_slot();
        c.slot_page[p->slot] = page;
        protect(page, PROT_READ | PROT_WRITE);
        wd_step(&wd_fault, WD_FAULT_FETCH);
        if (rma_get(sp->home, sp->home_disp, space_page_addr(page), c.page_size) != MDSM_OK)
            fatal("cannot fetch a page from its home");
        wd_end(&wd_fault);
        mdsm_stat.read_faults++;
        mdsm_stat.pages_fetched++;
        mdsm_stat.bytes_fetched += c.page_size;
        if (is_write) {
            memcpy(twin_of(p), space_page_addr(page), c.page_size);
            p->state = PAGE_DIRTY;
            list_dirty(page, p);
            mdsm_stat.write_faults++;
        } else {
            protect(page, PROT_READ);
            p->state = PAGE_CACHED;
        }
        return 1;
    }
    case PAGE_CACHED: /* only writes fault on a read-only copy */
        memcpy(twin_of(p), space_page_addr(page), c.page_size);
        protect(page, PROT_READ | PROT_WRITE);
        p->state = PAGE_DIRTY;
        list_dirty(page, p);
        mdsm_stat.write_faults++;
        return 1;
    case PAGE_HOME_CLEAN:
        open_home_run(page);
        mdsm_stat.write_faults++;
        return 1;
    default: /* already resolved (another thread) */
        wd_fault_retried(addr, p->state == PAGE_DIRTY      ? "dirty"
                               : p->state == PAGE_DRAINING ? "draining"
                                                           : "home dirty");
        return 1;
    }
}

static int by_page(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

#define LISTED_RETRY 2 /* p->listed: its diff could not start; kept for the next release */

int cache_release(void)
{
    int rc = MDSM_OK;
    /* In address order, so that neighbouring pages share one mprotect. */
    qsort(c.dirty, c.ndirty, sizeof(*c.dirty), by_page);
    /* Every diff first, then one flush, then the protection changes: each
     * page is a put's source until the flush. */
    for (uint64_t i = 0; i < c.ndirty; i++) {
        struct cache_page *p = &c.pages[c.dirty[i]];
        int put = 0;
        if (p->state != PAGE_DIRTY)
            continue;
        int wrc = write_diff(c.dirty[i], p, &put);
        if (wrc != MDSM_OK) {
            p->listed = LISTED_RETRY; /* keeps its twin and changes */
            if (rc == MDSM_OK)
                rc = wrc;
        }
    }
    int frc = flush_home();
    if (frc != MDSM_OK)
        return rc != MDSM_OK ? rc : frc; /* all stays listed: the next release retries */
    uint64_t run = 0, run_len = 0, kept = 0;
    for (uint64_t i = 0; i < c.ndirty; i++) {
        uint64_t page = c.dirty[i];
        struct cache_page *p = &c.pages[page];
        if (p->listed == LISTED_RETRY) {
            p->listed = 1;
            c.dirty[kept++] = page; /* kept <= i: entries not yet read stay intact */
            continue;
        }
        p->listed = 0;
        if (p->state == PAGE_DIRTY) {
            p->state = PAGE_CACHED;
        } else if (p->state == PAGE_HOME_DIRTY) {
            p->state = PAGE_HOME_CLEAN;
            c.written(page);
        } else {
            continue; /* evicted or invalidated since it was listed */
        }
        if (run_len && run + run_len == page) {
            run_len++;
            continue;
        }
        if (run_len)
            protect_run(run, run_len, PROT_READ);
        run = page;
        run_len = 1;
    }
    if (run_len)
        protect_run(run, run_len, PROT_READ);
    c.ndirty = kept;
    return rc;
}

int cache_invalidate(uint64_t page)
{
    struct cache_page *p = &c.pages[page];
    if (p->state != PAGE_CACHED && p->state != PAGE_DIRTY)
        return MDSM_OK;
    mdsm_stat.invalidations++;
    return drop(page, p);
}

int cache_invalidate_all(void)
{
    int rc = MDSM_OK;
    for (uint64_t s = 0; s < c.fresh; s++) {
        if (c.slot_page[s] != NO_SLOT) {
            int irc = cache_invalidate(c.slot_page[s]);
            if (irc != MDSM_OK && rc == MDSM_OK)
                rc = irc;
        }
    }
    return rc;
}

int cache_flush(void)
{
    return flush_home();
}

void cache_on_alloc(uint64_t start, uint64_t npages)
{
    for (uint64_t pg = start; pg < start + npages; pg++) {
        c.pages[pg].state =
            mdsm_space.pages[pg].home == mdsm_space.rank ? PAGE_HOME_CLEAN : PAGE_INVALID;
        c.pages[pg].listed = 0;
        c.pages[pg].slot = NO_SLOT;
    }
}

void cache_on_free(uint64_t start, uint64_t npages)
{
    /* Copies still draining after a failed flush: their puts must end before
     * the range is remapped. A second failure leaves them to MPI's error. */
    if (c.ndraining && flush_home() != MDSM_OK) {
        uint64_t left = 0;
        for (uint64_t i = 0; i < c.ndraining; i++)
            if (c.draining[i] < start || c.draining[i] >= start + npages)
                c.draining[left++] = c.draining[i];
        c.ndraining = left;
    }
    for (uint64_t pg = start; pg < start + npages; pg++) {
        struct cache_page *p = &c.pages[pg];
        if (p->slot != NO_SLOT)
            free_slot(p);
        p->state = PAGE_UNUSED;
        p->listed = 0;
    }
    /* Forget the freed pages' pending changes. */
    uint64_t kept = 0;
    for (uint64_t i = 0; i < c.ndirty; i++)
        if (c.dirty[i] < start || c.dirty[i] >= start + npages)
            c.dirty[kept++] = c.dirty[i];
    c.ndirty = kept;
}
