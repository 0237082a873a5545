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

/* Returns whether page differs from twin, and makes twin what it read of
 * page: each 8-byte word is read once, so a word another thread writes
 * meanwhile either is in twin and counted now or differs at the next call.
 * page and twin are 8-byte aligned, len a multiple of 8. */
int diff_update(const unsigned char *page, unsigned char *twin, size_t len);

#endif
