#include "space/extent.h"

#include <stdlib.h>
#include <string.h>

int extent_pool_init(struct extent_pool *p, uint64_t total)
{
    p->cap = 16;
    p->free = malloc(p->cap * sizeof(*p->free));
    if (!p->free)
        return -1;
    p->free[0] = (struct extent){0, total};
    p->nfree = total > 0;
    return 0;
}

void extent_pool_fini(struct extent_pool *p)
{
    free(p->free);
    memset(p, 0, sizeof(*p));
}

int extent_take(struct extent_pool *p, uint64_t len, uint64_t *start)
{
    for (size_t i = 0; i < p->nfree; i++) {
        struct extent *e = &p->free[i];
        if (e->len < len)
            continue;
        *start = e->start;
        e->start += len;
        e->len -= len;
        if (e->len == 0) {
            memmove(e, e + 1, (p->nfree - i - 1) * sizeof(*e));
            p->nfree--;
        }
        return 0;
    }
    return -1;
}

int extent_give(struct extent_pool *p, uint64_t start, uint64_t len)
{
    size_t i = 0;
    while (i < p->nfree && p->free[i].start < start)
        i++;
    int merge_prev = i > 0 && p->free[i - 1].start + p->free[i - 1].len == start;
    int merge_next = i < p->nfree && start + len == p->free[i].start;
    if (merge_prev && merge_next) {
        p->free[i - 1].len += len + p->free[i].len;
        memmove(&p->free[i], &p->free[i + 1], (p->nfree - i - 1) * sizeof(*p->free));
        p->nfree--;
    } else if (merge_prev) {
        p->free[i - 1].len += len;
    } else if (merge_next) {
        p->free[i].start = start;
        p->free[i].len += len;
    } else {
        if (p->nfree == p->cap) {
            struct extent *n = realloc(p->free, 2 * p->cap * sizeof(*n));
            if (!n)
                return -1;
            p->free = n;
            p->cap *= 2;
        }
        memmove(&p->free[i + 1], &p->free[i], (p->nfree - i) * sizeof(*p->free));
        p->free[i] = (struct extent){start, len};
        p->nfree++;
    }
    return 0;
}
