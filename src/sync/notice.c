#include "sync/notice.h"

#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "common/error.h"
#include "rma/rma.h"
#include "sync/meta.h"

static int me, n;
static uint64_t head;     /* notices logged (published or not) */
static uint64_t *seen;    /* per rank: notices caught up with; seen[me] = published */
static uint32_t *scratch; /* entries fetched from one rank */

int notice_init(int rank, int nranks)
{
    me = rank;
    n = nranks;
    head = 0;
    seen = calloc((size_t)nranks, sizeof(*seen));
    scratch = malloc(META_LOG_CAP * sizeof(*scratch));
    if (!seen || !scratch) {
        notice_fini();
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "notices: tables");
    }
    return MDSM_OK;
}

void notice_fini(void)
{
    free(seen);
    free(scratch);
    seen = NULL;
    scratch = NULL;
}

static uint64_t *log_base(void)
{
    return (uint64_t *)(mdsm_meta_base + mdsm_meta.head);
}

void notice_append(uint64_t page)
{
    uint32_t *log = (uint32_t *)(mdsm_meta_base + mdsm_meta.log);
    log[head % META_LOG_CAP] = (uint32_t)page;
    head++;
}

void notice_publish(void)
{
    rma_meta_sync(); /* entries before the head that announces them */
    __atomic_store_n(log_base(), head, __ATOMIC_RELEASE);
    rma_meta_sync();
    seen[me] = head;
}

const uint64_t *notice_vector(void)
{
    return seen;
}

int notice_read_heads(uint64_t *heads)
{
    for (int r = 0; r < n; r++) {
        if (r == me) {
            heads[r] = seen[me];
            continue;
        }
        int rc = rma_meta_get_nb(r, mdsm_meta.head, &heads[r], sizeof(uint64_t));
        if (rc != MDSM_OK)
            return rc;
    }
    return rma_meta_flush_all();
}

/* Fetches rank r's entries [from, to) into scratch; the ring may wrap. */
static int fetch_entries(int r, uint64_t from, uint64_t to)
{
    uint64_t count = to - from, start = from % META_LOG_CAP;
    uint64_t first = count < META_LOG_CAP - start ? count : META_LOG_CAP - start;
    int rc = rma_meta_get_nb(r, mdsm_meta.log + start * 4, scratch, first * 4);
    if (rc == MDSM_OK && count > first)
        rc = rma_meta_get_nb(r, mdsm_meta.log, scratch + first, (count - first) * 4);
    if (rc == MDSM_OK)
        rc = rma_meta_flush_all();
    return rc;
}

int notice_catch_up(const uint64_t *target)
{
    int rc = MDSM_OK, all = 0;
    for (int r = 0; r < n && rc == MDSM_OK; r++) {
        if (r == me || target[r] <= seen[r])
            continue;
        uint64_t from = seen[r], to = target[r];
        seen[r] = to;
        if (all)
            continue;
        if (to - from > META_LOG_CAP) {
            all = 1; /* overrun: the log no longer holds what we missed */
            continue;
        }
        rc = fetch_entries(r, from, to);
        /* The writer may have lapped the ring while we read: then trust nothing. */
        uint64_t now = 0;
        if (rc == MDSM_OK)
            rc = rma_meta_get(r, mdsm_meta.head, &now, sizeof(now));
        if (rc != MDSM_OK)
            break;
        if (now - from > META_LOG_CAP) {
            all = 1;
            continue;
        }
        for (uint64_t i = 0; i < to - from && rc == MDSM_OK; i++)
            rc = cache_invalidate(scratch[i]);
    }
    if (rc == MDSM_OK && all)
        rc = cache_invalidate_all();
    int frc = cache_flush(); /* dirty copies dropped above went home */
    return rc != MDSM_OK ? rc : frc;
}
