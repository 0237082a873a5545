/* Per-rank statistics: counters bumped on the paths that do the work. */
#ifndef MDSM_STATS_STATS_H
#define MDSM_STATS_STATS_H

#include "mdsm.h"

extern mdsm_stats_t mdsm_stat;

/* Seconds since an arbitrary epoch (monotonic). */
double mdsm_now(void);

#endif
