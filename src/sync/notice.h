/* Write notices: each rank logs the pages it wrote, in order, in a ring in its
 * meta window, and publishes how many it has logged (its head). A rank that
 * acquires catches up with other ranks' logs up to a target vector of heads and
 * invalidates the pages named there: exactly those others wrote since it last
 * synchronised with them. */
#ifndef MDSM_SYNC_NOTICE_H
#define MDSM_SYNC_NOTICE_H

#include <stdint.h>

int notice_init(int rank, int nranks);
void notice_fini(void);

/* Logs page (not yet visible to others). Matches cache_written_fn. */
void notice_append(uint64_t page);

/* Makes every logged notice visible. Call after the writes are complete. */
void notice_publish(void);

/* This rank's vector: heads of others' logs it has caught up with, and its
 * own published head. Valid until the next call into this module. */
const uint64_t *notice_vector(void);

/* Changes whenever notice_vector()'s contents do. */
uint64_t notice_vector_gen(void);

/* Invalidates every page named in others' logs up to target[r] (per rank). */
int notice_catch_up(const uint64_t *target);

/* The entries of this rank's log that its last publish announced, when
 * there are at most max: copied into pages (one per element), the first's
 * index in *from, their number returned. -1 when there are more. */
int notice_last_published(uint64_t *pages, int max, uint64_t *from);

/* notice_catch_up, given rank r's entries [from, from + count) as sent by r
 * itself: when they are exactly what this rank misses of r's log, they are
 * applied without reading r's log. count < 0: none given. */
int notice_catch_up_given(const uint64_t *target, int r, uint64_t from, const uint64_t *pages,
                          int count);

/* Reads every rank's published head (one round of gets). */
int notice_read_heads(uint64_t *heads);

#endif
