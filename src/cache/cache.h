/* The page cache: what this rank holds of each global page, the twins of
 * pages it writes, fetching on faults, writing diffs home, invalidation and
 * eviction under the MDSM_CACHE_SIZE limit. */
#ifndef MDSM_CACHE_CACHE_H
#define MDSM_CACHE_CACHE_H

#include <stdint.h>

#include "config/config.h"

enum page_state {
    PAGE_UNUSED = 0, /* not part of a live allocation */
    PAGE_INVALID,    /* remote, not cached: PROT_NONE */
    PAGE_CACHED,     /* remote, clean copy: read-only */
    PAGE_DIRTY,      /* remote, written this interval: read-write with a twin */
    PAGE_HOME_CLEAN, /* homed here: read-only so the first write is noticed */
    PAGE_HOME_DIRTY, /* homed here, written this interval: read-write */
    PAGE_DRAINING    /* remote, dropped, its diff in flight: unchanged until the flush */
};

/* Called for each page whose changes reached its home (or that this rank wrote
 * at home): the write notices other ranks act on at acquire. */
typedef void (*cache_written_fn)(uint64_t page);

int cache_init(const struct mdsm_settings *s, cache_written_fn written);
void cache_fini(void);

void cache_on_alloc(uint64_t start, uint64_t npages);
void cache_on_free(uint64_t start, uint64_t npages); /* drops changes */

/* Resolves an access fault at addr (inside the space). Returns 1 when the
 * access may be retried, 0 when addr is not in live global memory. */
int cache_fault(void *addr, int is_write);

/* Writes every change of this interval to its home (byte-exact diffs) and
 * re-protects the written pages. Complete at the homes on return. */
int cache_release(void);

/* Drops this rank's copy of page if it caches one. A dirty copy's changes
 * are written home first: the copy keeps its memory (PAGE_DRAINING) until the
 * next cache_release or cache_flush completes that write. */
int cache_invalidate(uint64_t page);
int cache_invalidate_all(void);

/* Completes writes started by cache_invalidate, then frees the dropped copies. */
int cache_flush(void);

#endif
