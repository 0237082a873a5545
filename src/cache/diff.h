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

#endif
