/* The page cache: what this rank holds of each global page, the twins of
 * pages it writes, fetching on faults, writing diffs home, invalidation and
 * eviction under the MDSM_CACHE_SIZE limit. */
#ifndef MDSM_CACHE_CACHE_H
#define MDSM_CACHE_CACHE_H

#include <stdint.h>

#include "config/config.h"

enum page_state {
    PAGE_INVALID = 0, /* remote, not readable: PROT_NONE (its memory may be kept for a refetch);
                       * also a page of no live allocation (space_lookup tells) */
    PAGE_CACHED,      /* remote, clean copy: read-only */
    PAGE_DIRTY,       /* remote, written this interval: read-write with a twin */
    PAGE_HOME_CLEAN,  /* homed on this node: read-only so the first write is noticed */
    PAGE_HOME_DIRTY,  /* homed on this node, written this interval: read-write (and across
                       * releases while each interval changes it: compared with a twin) */
    PAGE_DRAINING,  /* remote, dropped, its diff in flight: its memory unchanged until the flush */
    PAGE_HOME_NONE, /* homed on this node, closed to save mappings: mapped at the next access */
    PAGE_HOME_OPEN  /* homed on this node, writes untracked (every rank on it, or this rank's
                     * own page no other node has fetched): read-write */
};

/* Called for each page whose changes reached its home (or that this rank wrote
 * at home): the write notices other ranks act on at acquire. */
typedef void (*cache_written_fn)(uint64_t page);

int cache_init(const struct mdsm_settings *s, cache_written_fn written);
void cache_fini(void);

/* Before mapping an allocation's homes: checks that its mappings fit this
 * rank's budget (evicting to make room), eagerly mapped (*lazy = 0) or else
 * with home pages mapped at first access (*lazy = 1). MDSM_ERR_NO_MEMORY,
 * naming vm.max_map_count and MDSM_PAGE_SIZE, when neither fits. */
int cache_fit_alloc(uint64_t start, uint64_t npages, size_t bytes, int *lazy);
void cache_on_alloc(uint64_t start, uint64_t npages, int lazy);
void cache_on_free(uint64_t start, uint64_t npages); /* drops changes */

/* Resolves an access fault at addr (inside the space). Returns 1 when the
 * access may be retried, 0 when addr is not in live global memory. */
int cache_fault(void *addr, int is_write);

/* Fetches the pages of [first, first + npages) that are homed elsewhere and
 * not held here, a get per run of one home, into spare cache slots: stops
 * where none is left or mappings would run out (a hint never evicts). The
 * pages must be in live allocations. MDSM_ERR_MPI if a get fails (its pages
 * stay unfetched). */
int cache_prefetch(uint64_t first, uint64_t npages);

/* Writes every change of this interval to its home (byte-exact diffs) and
 * logs the write notices. Written copies stay writable (diffed against their
 * twins), and so do home pages written in two intervals in a row (within a
 * budget of twins), until a release finds them unchanged; other written
 * pages are write-protected again. Complete at the homes on return; after a
 * failed flush this and every later release fail (MDSM_ERR_MPI). */
int cache_release(void);

/* Makes this rank's copy of page inaccessible if it caches one (its memory is
 * kept for a refetch). A dirty copy's changes are written home first, from
 * that memory (PAGE_DRAINING) until the next cache_release or cache_flush. */
int cache_invalidate(uint64_t page);
/* cache_invalidate of every cached copy whose page stale() names (every one
 * when stale is NULL); O(copies cached), not O(pages of the space). */
int cache_invalidate_where(int (*stale)(uint64_t page, const void *arg), const void *arg);

/* For a page named by a write notice at a lock acquire: a read-only copy is
 * brought up to date in place (one get) and made writable with a twin, so
 * the data the lock guards is read and written without a fault; a copy being
 * fetched, a dirty one or one whose get fails is invalidated as
 * cache_invalidate does. */
int cache_refresh(uint64_t page);

/* Completes writes started by cache_invalidate; the dropped copies' memory may
 * then be reused. */
int cache_flush(void);

/* Kernel mappings of the global range now, the most this rank lets it use,
 * and vm.max_map_count. */
void cache_mappings(uint64_t *used, uint64_t *budget, uint64_t *kernel_max);

#endif
