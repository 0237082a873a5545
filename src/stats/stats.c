#include "stats/stats.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "core/context.h"

mdsm_stats_t mdsm_stat;
mdsm_stats_t mdsm_stat_retired;

double mdsm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A new field must be added here (and to the PAPI event table). */
_Static_assert(sizeof(mdsm_stats_t) == 23 * sizeof(uint64_t), "stats_zero misses a field");

void stats_zero(void)
{
    mdsm_stats_t *r = &mdsm_stat_retired, *s = &mdsm_stat;
    r->read_faults += s->read_faults;
    r->write_faults += s->write_faults;
    r->pages_fetched += s->pages_fetched;
    r->bytes_fetched += s->bytes_fetched;
    r->diffs += s->diffs;
    r->diff_bytes += s->diff_bytes;
    r->invalidations += s->invalidations;
    r->evictions += s->evictions;
    r->lock_acquires += s->lock_acquires;
    r->lock_wait_s += s->lock_wait_s;
    r->barriers += s->barriers;
    r->barrier_s += s->barrier_s;
    r->node_read_faults += s->node_read_faults;
    r->node_write_faults += s->node_write_faults;
    r->shared_home_pages += s->shared_home_pages;
    r->pages_prefetched += s->pages_prefetched;
    r->pages_refreshed += s->pages_refreshed;
    r->rma_ops += s->rma_ops;
    r->rma_bytes += s->rma_bytes;
    r->messages += s->messages;
    r->message_bytes += s->message_bytes;
    r->collectives += s->collectives;
    r->collective_bytes += s->collective_bytes;
    memset(s, 0, sizeof(*s));
}

int mdsm_stats_get(mdsm_stats_t *out)
{
    int rc = mdsm_check_initialized("mdsm_stats_get");
    if (rc != MDSM_OK)
        return rc;
    if (!out)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_stats_get: out is NULL");
    *out = mdsm_stat;
    return MDSM_OK;
}

int mdsm_stats_reset(void)
{
    int rc = mdsm_check_initialized("mdsm_stats_reset");
    if (rc != MDSM_OK)
        return rc;
    stats_zero();
    return MDSM_OK;
}

int mdsm_stats_print(void)
{
    int rc = mdsm_check_initialized("mdsm_stats_print");
    if (rc != MDSM_OK)
        return rc;
    const mdsm_stats_t *s = &mdsm_stat;
    printf("mdsm stats rank %d: read_faults=%llu write_faults=%llu pages_fetched=%llu "
           "bytes_fetched=%llu diffs=%llu diff_bytes=%llu invalidations=%llu evictions=%llu "
           "lock_acquires=%llu lock_wait_s=%.6f barriers=%llu barrier_s=%.6f node_read_faults=%llu "
           "node_write_faults=%llu shared_home_pages=%llu pages_prefetched=%llu "
           "pages_refreshed=%llu rma_ops=%llu rma_bytes=%llu messages=%llu "
           "message_bytes=%llu collectives=%llu collective_bytes=%llu\n",
           mdsm_ctx.rank, (unsigned long long)s->read_faults, (unsigned long long)s->write_faults,
           (unsigned long long)s->pages_fetched, (unsigned long long)s->bytes_fetched,
           (unsigned long long)s->diffs, (unsigned long long)s->diff_bytes,
           (unsigned long long)s->invalidations, (unsigned long long)s->evictions,
           (unsigned long long)s->lock_acquires, s->lock_wait_s, (unsigned long long)s->barriers,
           s->barrier_s, (unsigned long long)s->node_read_faults,
           (unsigned long long)s->node_write_faults, (unsigned long long)s->shared_home_pages,
           (unsigned long long)s->pages_prefetched, (unsigned long long)s->pages_refreshed,
           (unsigned long long)s->rma_ops, (unsigned long long)s->rma_bytes,
           (unsigned long long)s->messages, (unsigned long long)s->message_bytes,
           (unsigned long long)s->collectives, (unsigned long long)s->collective_bytes);
    fflush(stdout);
    return MDSM_OK;
}
