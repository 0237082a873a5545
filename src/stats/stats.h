/* Per-rank statistics: counters bumped on the paths that do the work. */
#ifndef MDSM_STATS_STATS_H
#define MDSM_STATS_STATS_H

#include "mdsm.h"

extern mdsm_stats_t mdsm_stat;

/* What mdsm_stat held at each zeroing (mdsm_init, mdsm_stats_reset), summed:
 * mdsm_stat + mdsm_stat_retired counts since the process started and never
 * goes back, which is what PAPI readers need. */
extern mdsm_stats_t mdsm_stat_retired;

/* Adds mdsm_stat into mdsm_stat_retired, then zeroes mdsm_stat. */
void stats_zero(void);

/* Counted from any thread (transfers run in parallel): relaxed atomics. */
static inline void stats_rma(uint64_t ops, uint64_t bytes)
{
    __atomic_fetch_add(&mdsm_stat.rma_ops, ops, __ATOMIC_RELAXED);
    __atomic_fetch_add(&mdsm_stat.rma_bytes, bytes, __ATOMIC_RELAXED);
}

static inline void stats_message(uint64_t bytes)
{
    __atomic_fetch_add(&mdsm_stat.messages, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&mdsm_stat.message_bytes, bytes, __ATOMIC_RELAXED);
}

/* A collective that brought this rank bytes (one thread per rank calls them). */
static inline void stats_collective(uint64_t bytes)
{
    mdsm_stat.collectives++;
    mdsm_stat.collective_bytes += bytes;
}

/* Seconds since an arbitrary epoch (monotonic). */
double mdsm_now(void);

#endif
