/* mdsm_fetch_add and mdsm_cas: act on the home copy with MPI atomics. The page
 * is then logged as written, so that ranks caching it drop their stale copy at
 * their next acquire, and this rank drops its own. Where every rank uses every
 * home page in place (untracked), all of them use the CPU's atomics on it
 * instead: nobody caches a copy, and no MPI atomic touches the memory. */
#include <stdint.h>

#include "cache/cache.h"
#include "common/error.h"
#include "core/context.h"
#include "rma/rma.h"
#include "space/space.h"
#include "sync/notice.h"
#include "watchdog/watchdog.h"

static int locate(const char *call, const int64_t *addr, int *home, uint64_t *disp)
{
    int rc = mdsm_check_initialized(call);
    if (rc != MDSM_OK)
        return rc;
    *home = space_contains(addr) ? space_home(space_page_of(addr)) : -1;
    if (*home < 0)
        return mdsm_fail(MDSM_ERR_NOT_GLOBAL, "%s: %p is not in mdsm global memory", call,
                         (const void *)addr);
    if ((uintptr_t)addr % 8 != 0)
        return mdsm_fail(MDSM_ERR_ALIGNMENT, "%s: %p is not 8-byte aligned", call,
                         (const void *)addr);
    uint64_t page = space_page_of(addr);
    *disp = space_disp(page) + (uint64_t)((const char *)addr - space_page_addr(page));
    return MDSM_OK;
}

/* Only an atomic that changed the value is a write others must notice. */
static int after_atomic(const int64_t *addr, int changed)
{
    if (!changed)
        return MDSM_OK;
    uint64_t page = space_page_of(addr);
    notice_append(page);
    int rc = cache_invalidate(page);
    return rc == MDSM_OK ? cache_flush() : rc;
}

int mdsm_fetch_add(int64_t *addr, int64_t value, int64_t *old)
{
    int home = 0;
    uint64_t disp = 0;
    int rc = locate("mdsm_fetch_add", addr, &home, &disp);
    if (rc != MDSM_OK)
        return rc;
    int64_t prev = 0;
    if (mdsm_space.untracked) {
        prev = __atomic_fetch_add(addr, value, __ATOMIC_SEQ_CST);
        if (old)
            *old = prev;
        return MDSM_OK;
    }
    wd_call(WD_ATOMIC, "mdsm_fetch_add", home, addr);
    rc = rma_fetch_add64(home, disp, value, &prev);
    if (rc == MDSM_OK)
        rc = after_atomic(addr, value != 0);
    wd_end(&wd_api);
    if (rc == MDSM_OK && old)
        *old = prev;
    return rc;
}

int mdsm_cas(int64_t *addr, int64_t expected, int64_t desired, int64_t *old)
{
    int home = 0;
    uint64_t disp = 0;
    int rc = locate("mdsm_cas", addr, &home, &disp);
    if (rc != MDSM_OK)
        return rc;
    if (!old)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_cas: old is NULL");
    if (mdsm_space.untracked) {
        *old = expected; /* replaced by the value found when the exchange fails */
        __atomic_compare_exchange_n(addr, old, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return MDSM_OK;
    }
    int64_t prev = 0;
    wd_call(WD_ATOMIC, "mdsm_cas", home, addr);
    rc = rma_cas64(home, disp, expected, desired, &prev);
    if (rc == MDSM_OK)
        rc = after_atomic(addr, prev == expected && desired != expected);
    wd_end(&wd_api);
    if (rc == MDSM_OK)
        *old = prev;
    return rc;
}
