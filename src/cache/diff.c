#include "cache/diff.h"

#include <stdint.h>
#include <string.h>

/* Runs being built: a byte at a time, in address order. */
struct builder {
    struct mdsm_run *runs;
    int n;
    size_t changed;
    long open; /* start of the run being built, or -1 */
};

static void run_end(struct builder *b, size_t at)
{
    if (b->open >= 0) {
        b->runs[b->n++] = (struct mdsm_run){(uint32_t)b->open, (uint32_t)(at - (size_t)b->open)};
        b->changed += at - (size_t)b->open;
        b->open = -1;
    }
}

static void run_byte(struct builder *b, size_t at, int differs)
{
    if (!differs)
        run_end(b, at);
    else if (b->open < 0)
        b->open = (long)at;
}

int diff_runs(const unsigned char *page, const unsigned char *twin, size_t len,
              struct mdsm_run *runs, size_t *changed_bytes)
{
    struct builder b = {runs, 0, 0, -1};
    size_t i = 0;
    while (i < len) {
        /* Skip equal 8-byte words quickly when no run is open. */
        if (b.open < 0 && i + 8 <= len) {
            uint64_t x, y;
            memcpy(&x, page + i, 8);
            memcpy(&y, twin + i, 8);
            if (x == y) {
                i += 8;
                continue;
            }
        }
        run_byte(&b, i, page[i] != twin[i]);
        i++;
    }
    run_end(&b, len);
    *changed_bytes = b.changed;
    return b.n;
}

int diff_update(const unsigned char *page, unsigned char *twin, size_t len)
{
    const uint64_t *a = (const uint64_t *)page;
    uint64_t *b = (uint64_t *)twin;
    int changed = 0;
    for (size_t w = 0; w < len / 8; w++) {
        uint64_t v = __atomic_load_n(&a[w], __ATOMIC_RELAXED); /* one read: compared and kept */
        if (v != b[w]) {
            b[w] = v;
            changed = 1;
        }
    }
    return changed;
}

int diff_runs_update(const unsigned char *page, unsigned char *twin, size_t len,
                     struct mdsm_run *runs, size_t *changed_bytes)
{
    const uint64_t *a = (const uint64_t *)page;
    uint64_t *t = (uint64_t *)twin;
    struct builder b = {runs, 0, 0, -1};
    for (size_t w = 0; w < len / 8; w++) {
        uint64_t v = __atomic_load_n(&a[w], __ATOMIC_RELAXED), old = t[w];
        if (v == old) {
            run_end(&b, w * 8);
            continue;
        }
        t[w] = v;
        unsigned char vb[8], ob[8]; /* the bytes read, in memory order */
        memcpy(vb, &v, 8);
        memcpy(ob, &old, 8);
        for (size_t k = 0; k < 8; k++)
            run_byte(&b, w * 8 + k, vb[k] != ob[k]);
    }
    run_end(&b, len);
    *changed_bytes = b.changed;
    return b.n;
}

void diff_merge(unsigned char *page, unsigned char *twin, const unsigned char *home, size_t len)
{
    uint64_t *a = (uint64_t *)page, *b = (uint64_t *)twin;
    const uint64_t *h = (const uint64_t *)home;
    for (size_t w = 0; w < len / 8; w++) {
        uint64_t o = b[w], nw = h[w];
        if (nw == o)
            continue; /* unchanged at the home: this rank's bytes stand */
        uint64_t cur = __atomic_load_n(&a[w], __ATOMIC_RELAXED);
        for (;;) {
            unsigned char cb[8], ob[8], nb[8];
            memcpy(cb, &cur, 8);
            memcpy(ob, &o, 8);
            memcpy(nb, &nw, 8);
            for (size_t k = 0; k < 8; k++)
                if (cb[k] == ob[k]) /* not written here since the twin: the home's byte */
                    cb[k] = nb[k];
            uint64_t m;
            memcpy(&m, cb, 8);
            if (m == cur ||
                __atomic_compare_exchange_n(&a[w], &cur, m, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                break; /* on failure cur is the word another thread just wrote */
        }
        b[w] = nw;
    }
}
