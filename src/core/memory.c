/* Collective allocation and release of global memory, and the prefetch hint. */
#include <stdint.h>

#include "cache/cache.h"
#include "common/error.h"
#include "core/context.h"
#include "progress/progress.h"
#include "space/space.h"
#include "stats/stats.h"
#include "watchdog/watchdog.h"

/* All ranks learn whether everyone passed the same value, and whether any
 * rank raised flag. */
static int agree_on(uint64_t v, int flag, int *same, int *any_flag)
{
    uint64_t mine[3] = {v, UINT64_MAX - v, (uint64_t)(flag != 0)}, max[3] = {0, 0, 0};
    MPI_Request req;
    if (MPI_Iallreduce(mine, max, 3, MPI_UINT64_T, MPI_MAX, mdsm_ctx.comm, &req) != MPI_SUCCESS ||
        progress_wait_request(&req) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "MPI_Iallreduce failed");
    stats_collective(sizeof(max));
    *same = max[0] == UINT64_MAX - max[1];
    *any_flag = max[2] != 0;
    return MDSM_OK;
}

static void *alloc(size_t bytes)
{
    int same = 0, unused = 0, rc = agree_on(bytes, 0, &same, &unused);
    if (rc != MDSM_OK)
        return NULL;
    if (!same) {
        mdsm_fail(MDSM_ERR_MISMATCH, "mdsm_alloc(%zu): ranks asked for different sizes", bytes);
        return NULL;
    }
    if (bytes == 0) {
        mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_alloc(0): size must be positive");
        return NULL;
    }
    if (bytes > mdsm_space.size) {
        mdsm_fail(MDSM_ERR_OUT_OF_SPACE, "mdsm_alloc(%zu): larger than the space (%zu bytes)",
                  bytes, mdsm_space.size);
        return NULL;
    }
    uint64_t npages = (bytes + mdsm_space.page_size - 1) >> mdsm_space.page_shift, start = 0;
    int lazy = 0, recorded = 0;
    rc = space_alloc(npages, &start);
    recorded = rc == MDSM_OK;
    if (rc == MDSM_ERR_OUT_OF_SPACE)
        rc = mdsm_fail(rc, "mdsm_alloc(%zu): no free range of %llu pages in the space", bytes,
                       (unsigned long long)npages);
    /* Kernel mappings are checked before any is made: an allocation that
     * cannot fit fails here, never later in a fault. */
    if (rc == MDSM_OK)
        rc = cache_fit_alloc(start, npages, bytes, &lazy);
    if (rc == MDSM_OK)
        rc = space_map_homes(start, lazy);
    rc = mdsm_agree(mdsm_ctx.comm, rc, "mdsm_alloc");
    if (rc != MDSM_OK) {
        if (recorded)
            space_free(start);
        return NULL;
    }
    space_alloc_agreed(npages);
    cache_on_alloc(start, npages, lazy);
    return space_page_addr(start);
}

static int free_alloc(void *ptr)
{
    int rc, found = 0;
    struct space_rec r;
    if (space_contains(ptr) && ((uintptr_t)ptr & (mdsm_space.page_size - 1)) == 0)
        found = space_lookup(space_page_of(ptr), &r) && r.start == space_page_of(ptr);
    int same = 0, any_invalid = 0;
    rc = agree_on((uint64_t)(uintptr_t)ptr, !found, &same, &any_invalid);
    if (rc != MDSM_OK)
        return rc;
    if (!found)
        return mdsm_fail(MDSM_ERR_NOT_ALLOCATION, "mdsm_free(%p): not the start of an allocation",
                         ptr);
    if (any_invalid)
        return mdsm_fail(MDSM_ERR_REMOTE, "mdsm_free(%p): another rank passed a non-allocation",
                         ptr);
    if (!same)
        return mdsm_fail(MDSM_ERR_MISMATCH, "mdsm_free(%p): ranks passed different pointers", ptr);
    cache_on_free(r.start, r.npages);
    /* Nobody may still read this rank's share when it is zeroed. */
    MPI_Request req;
    if (MPI_Ibarrier(mdsm_ctx.comm, &req) != MPI_SUCCESS ||
        progress_wait_request(&req) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_free: MPI_Ibarrier failed");
    stats_collective(0);
    return space_free(r.start);
}

/* Both are collective: the watchdog reports a rank left waiting in them. */
void *mdsm_alloc(size_t bytes)
{
    if (mdsm_collective_begin("mdsm_alloc") != MDSM_OK)
        return NULL;
    wd_call(WD_COLLECTIVE, "mdsm_alloc", -1, NULL);
    void *p = alloc(bytes);
    wd_end(&wd_api);
    mdsm_collective_end();
    return p;
}

int mdsm_free(void *ptr)
{
    int rc = mdsm_collective_begin("mdsm_free");
    if (rc != MDSM_OK)
        return rc;
    wd_call(WD_COLLECTIVE, "mdsm_free", -1, NULL);
    rc = free_alloc(ptr);
    wd_end(&wd_api);
    mdsm_collective_end();
    return rc;
}

int mdsm_home_of(const void *addr)
{
    int rc = mdsm_check_session("mdsm_home_of");
    if (rc != MDSM_OK)
        return rc;
    int home = space_contains(addr) ? space_home(space_page_of(addr)) : -1;
    if (home < 0)
        return mdsm_fail(MDSM_ERR_NOT_GLOBAL, "mdsm_home_of(%p): not in global memory", addr);
    return home;
}

long mdsm_page_size(void)
{
    int rc = mdsm_check_session("mdsm_page_size");
    return rc == MDSM_OK ? (long)mdsm_space.page_size : rc;
}

int mdsm_prefetch(const void *addr, size_t len)
{
    int rc = mdsm_check_initialized("mdsm_prefetch");
    if (rc != MDSM_OK || len == 0)
        return rc;
    const char *last = (const char *)addr + (len - 1);
    if (!space_contains(addr) || len - 1 > UINTPTR_MAX - (uintptr_t)addr || !space_contains(last))
        return mdsm_fail(MDSM_ERR_NOT_GLOBAL,
                         "mdsm_prefetch(%p, %zu): the range is not inside mdsm global memory", addr,
                         len);
    uint64_t first = space_page_of(addr), end = space_page_of(last) + 1;
    struct space_rec r;
    for (uint64_t p = first; p < end; p = r.start + r.npages) /* allocation by allocation */
        if (!space_lookup(p, &r))
            return mdsm_fail(MDSM_ERR_NOT_GLOBAL,
                             "mdsm_prefetch(%p, %zu): %p is not in a live allocation", addr, len,
                             (const void *)space_page_addr(p));
    return cache_prefetch(first, end - first);
}
