/* MCS queue locks. The tail lives at the lock's home; each rank has one queue
 * node per lock in its own meta window, so waiting spins on local memory.
 * Ranks are stored as rank+1 so that zeroed memory means "nobody". The
 * releaser's notice vector travels with the lock (stored at its home) and is
 * what the next holder catches up with. */
#include <stdlib.h>

#include "common/error.h"
#include "core/context.h"
#include "progress/progress.h"
#include "rma/rma.h"
#include "stats/stats.h"
#include "sync/lock.h"
#include "sync/meta.h"
#include "sync/notice.h"
#include "sync/sync.h"
#include "watchdog/watchdog.h"

static int me, n;
static unsigned char *held;
static uint64_t *vc; /* scratch: the vector read with a lock */

int lock_init(int rank, int nranks, int num_locks)
{
    me = rank;
    n = nranks;
    held = calloc((size_t)num_locks, 1);
    vc = calloc((size_t)nranks, sizeof(*vc));
    if (!held || !vc) {
        lock_fini();
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "locks: tables");
    }
    return MDSM_OK;
}

void lock_fini(void)
{
    free(held);
    free(vc);
    held = NULL;
    vc = NULL;
}

static int check_id(const char *call, int id)
{
    int rc = mdsm_check_initialized(call);
    if (rc != MDSM_OK)
        return rc;
    if (id < 0 || id >= mdsm_meta.num_locks)
        return mdsm_fail(MDSM_ERR_LOCK_ID, "%s(%d): lock ids are 0..%d", call, id,
                         mdsm_meta.num_locks - 1);
    return MDSM_OK;
}

static int32_t load_local(size_t off)
{
    return __atomic_load_n(meta_local32(off), __ATOMIC_ACQUIRE);
}

int mdsm_num_locks(void)
{
    int rc = mdsm_check_initialized("mdsm_num_locks");
    return rc == MDSM_OK ? mdsm_meta.num_locks : rc;
}

int mdsm_lock(int id)
{
    int rc = check_id("mdsm_lock", id);
    if (rc != MDSM_OK)
        return rc;
    if (held[id])
        return mdsm_fail(MDSM_ERR_LOCK_HELD, "mdsm_lock(%d): this rank holds it already", id);
    double t0 = mdsm_now();
    int home = meta_lock_home(id);
    __atomic_store_n(meta_local32(meta_qnode_next(id)), 0, __ATOMIC_RELAXED);
    __atomic_store_n(meta_local32(meta_qnode_locked(id)), 1, __ATOMIC_RELEASE);
    rma_meta_sync();
    int32_t prev = 0, ignored;
    wd_lock(WD_LOCK_ENQUEUE, id, home, -1);
    rc = rma_meta_swap32(home, meta_tail(id), me + 1, &prev);
    if (rc == MDSM_OK && prev != 0) {
        wd_lock_step(WD_LOCK_LINK, prev - 1);
        rc = rma_meta_swap32(prev - 1, meta_qnode_next(id), me + 1, &ignored);
        wd_step(&wd_api, WD_LOCK_WAIT);
        while (rc == MDSM_OK && load_local(meta_qnode_locked(id)) != 0)
            progress_poll();
    }
    if (rc != MDSM_OK) {
        wd_end(&wd_api);
        return rc;
    }
    /* In the queue and now at its head: the lock is ours even if catching up
     * fails below, so that mdsm_unlock can still hand it on. */
    held[id] = 1;
    mdsm_stat.lock_acquires++;
    wd_step(&wd_api, WD_LOCK_CATCH_UP);
    rc = rma_meta_get(home, meta_vc(id), vc, (size_t)n * sizeof(*vc));
    if (rc == MDSM_OK)
        rc = notice_catch_up(vc);
    wd_end(&wd_api);
    mdsm_stat.lock_wait_s += mdsm_now() - t0;
    return rc;
}

int mdsm_unlock(int id)
{
    int rc = check_id("mdsm_unlock", id);
    if (rc != MDSM_OK)
        return rc;
    if (!held[id])
        return mdsm_fail(MDSM_ERR_NOT_LOCK_HOLDER, "mdsm_unlock(%d): this rank does not hold it",
                         id);
    int home = meta_lock_home(id);
    /* Hand the lock on even if the release failed: waiting ranks must not
     * hang. Its error is reported once the handover is done. */
    wd_lock(WD_UNLOCK_RELEASE, id, home, -1);
    int release_rc = sync_release();
    if (release_rc == MDSM_OK)
        release_rc = rma_meta_put(home, meta_vc(id), notice_vector(), (size_t)n * sizeof(uint64_t));
    held[id] = 0;
    int32_t next = load_local(meta_qnode_next(id)), old = 0;
    if (next == 0) {
        wd_step(&wd_api, WD_UNLOCK_TAIL);
        rc = rma_meta_cas32(home, meta_tail(id), me + 1, 0, &old);
        if (rc != MDSM_OK || old == me + 1) {
            wd_end(&wd_api);
            return rc != MDSM_OK ? rc : release_rc; /* nobody was waiting */
        }
        wd_lock_step(WD_UNLOCK_SUCCESSOR, old - 1);
        while ((next = load_local(meta_qnode_next(id))) == 0)
            progress_poll(); /* a successor is linking itself in */
    }
    wd_lock_step(WD_UNLOCK_HANDOVER, next - 1);
    rc = rma_meta_swap32(next - 1, meta_qnode_locked(id), 0, &old);
    wd_end(&wd_api);
    return rc != MDSM_OK ? rc : release_rc;
}
