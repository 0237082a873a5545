#include "cache/diff.h"

#include <stdint.h>
#include <string.h>

int diff_runs(const unsigned char *page, const unsigned char *twin, size_t len,
              struct mdsm_run *runs, size_t *changed_bytes)
{
    int n = 0;
    size_t changed = 0;
    size_t i = 0;
    long open = -1; /* start of the run being built, or -1 */
    while (i < len) {
        /* Skip equal 8-byte words quickly when no run is open. */
        if (open < 0 && i + 8 <= len) {
            uint64_t a, b;
            memcpy(&a, page + i, 8);
            memcpy(&b, twin + i, 8);
            if (a == b) {
                i += 8;
                continue;
            }
        }
        if (page[i] != twin[i]) {
            if (open < 0)
                open = (long)i;
        } else if (open >= 0) {
            runs[n++] = (struct mdsm_run){(uint32_t)open, (uint32_t)(i - (size_t)open)};
            changed += i - (size_t)open;
            open = -1;
        }
        i++;
    }
    if (open >= 0) {
        runs[n++] = (struct mdsm_run){(uint32_t)open, (uint32_t)(len - (size_t)open)};
        changed += len - (size_t)open;
    }
    *changed_bytes = changed;
    return n;
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
