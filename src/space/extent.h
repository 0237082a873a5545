/* First-fit allocator of page ranges. Deterministic: ranks that apply the same
 * sequence of operations get the same answers, which collective allocation
 * relies on. */
#ifndef MDSM_SPACE_EXTENT_H
#define MDSM_SPACE_EXTENT_H

#include <stddef.h>
#include <stdint.h>

struct extent {
    uint64_t start, len;
};

struct extent_pool {
    struct extent *free; /* sorted by start, never adjacent */
    size_t nfree, cap;
};

int extent_pool_init(struct extent_pool *p, uint64_t total);
void extent_pool_fini(struct extent_pool *p);

/* Takes len units; returns 0 and *start, or -1 if no free range is big enough
 * (or memory for the bookkeeping ran out). */
int extent_take(struct extent_pool *p, uint64_t len, uint64_t *start);

/* Returns [start, start+len), merging with its neighbours. -1 on no memory. */
int extent_give(struct extent_pool *p, uint64_t start, uint64_t len);

#endif
