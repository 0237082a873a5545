/* Byte-exact differences between a page and its twin. */
#ifndef MDSM_CACHE_DIFF_H
#define MDSM_CACHE_DIFF_H

#include <stddef.h>

#include "rma/rma.h"

/* Fills runs with the maximal runs of bytes where page differs from twin and
 * returns their number (at most len/2 + 1). Runs never cover an unchanged
 * byte: another rank may have written it. */
int diff_runs(const unsigned char *page, const unsigned char *twin, size_t len,
              struct mdsm_run *runs, size_t *changed_bytes);

/* As diff_runs, and makes twin what it read of page: each 8-byte word is
 * read once, so a write another thread makes meanwhile is either in a run
 * and in twin, or differs from twin at the next call (page and twin 8-byte
 * aligned, len a multiple of 8). */
int diff_runs_update(const unsigned char *page, unsigned char *twin, size_t len,
                     struct mdsm_run *runs, size_t *changed_bytes);

/* Brings page up to date with home, the home's copy of it, where page still
 * holds twin's bytes (the bytes this rank wrote since twin was taken are
 * kept), then makes twin home. A word another thread writes meanwhile is
 * merged by compare-and-swap, so its write is never lost. Alignment as above. */
void diff_merge(unsigned char *page, unsigned char *twin, const unsigned char *home, size_t len);

/* Returns whether page differs from twin, and makes twin what it read of
 * page: each 8-byte word is read once, so a word another thread writes
 * meanwhile either is in twin and counted now or differs at the next call.
 * page and twin are 8-byte aligned, len a multiple of 8. */
int diff_update(const unsigned char *page, unsigned char *twin, size_t len);

#endif
