/* Barriers and fences: release = write changes home, then publish notices;
 * acquire = catch up with the notices of the releases we synchronise with. */
#include "sync/sync.h"

#include <pthread.h>
#include <stdlib.h>

#include "cache/cache.h"
#include "common/error.h"
#include "core/context.h"
#include "progress/progress.h"
#include "stats/stats.h"
#include "sync/notice.h"
#include "watchdog/watchdog.h"

static pthread_mutex_t sync_mu = PTHREAD_MUTEX_INITIALIZER;

void sync_enter(void)
{
    pthread_mutex_lock(&sync_mu);
}

void sync_exit(void)
{
    pthread_mutex_unlock(&sync_mu);
}

void sync_wait(pthread_cond_t *cv)
{
    pthread_cond_wait(cv, &sync_mu);
}

int sync_release(int announce)
{
    int rc = cache_release();
    if (rc == MDSM_OK) {
        sync_enter();
        rc = notice_publish(announce);
        sync_exit();
    }
    return rc;
}

int mdsm_release(void)
{
    int rc = mdsm_check_initialized("mdsm_release");
    if (rc != MDSM_OK)
        return rc;
    wd_call(WD_RELEASE, "mdsm_release", -1, NULL);
    rc = sync_release(1);
    wd_end(&wd_api);
    return rc;
}

int mdsm_acquire(void)
{
    int rc = mdsm_check_initialized("mdsm_acquire");
    if (rc != MDSM_OK)
        return rc;
    uint64_t *heads = mdsm_ctx.scratch_heads;
    wd_call(WD_ACQUIRE, "mdsm_acquire", -1, NULL);
    sync_enter();
    rc = notice_acquire(heads);
    sync_exit();
    wd_end(&wd_api);
    return rc;
}

static int barrier(void)
{
    double t0 = mdsm_now();
    wd_barrier(WD_BARRIER_RELEASE, ++mdsm_ctx.barriers);
    int rc = sync_release(0); /* every rank catches up below */
    /* Every rank enters the exchange even after a local failure, so that a
     * failure never becomes a hang; a failed rank's head is marked invalid. */
    sync_enter();
    uint64_t mine = rc == MDSM_OK ? notice_vector()[mdsm_ctx.rank] : UINT64_MAX;
    sync_exit();
    uint64_t *heads = mdsm_ctx.barrier_heads; /* the exchange holds no mutex */
    wd_step(&wd_api, WD_BARRIER_EXCHANGE);
    MPI_Request req;
    int mrc = MPI_Iallgather(&mine, 1, MPI_UINT64_T, heads, 1, MPI_UINT64_T, mdsm_ctx.comm, &req);
    if (mrc == MPI_SUCCESS)
        mrc = progress_wait_request(&req);
    stats_collective((uint64_t)mdsm_ctx.nranks * sizeof(*heads));
    wd_step(&wd_api, WD_BARRIER_CATCH_UP);
    if (mrc != MPI_SUCCESS)
        rc = mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_barrier: MPI_Iallgather failed");
    for (int r = 0; r < mdsm_ctx.nranks && rc == MDSM_OK; r++)
        if (heads[r] == UINT64_MAX)
            rc = mdsm_fail(MDSM_ERR_REMOTE, "mdsm_barrier: rank %d failed to release", r);
    if (rc != MDSM_OK) {
        wd_end(&wd_api);
        return rc;
    }
    sync_enter();
    rc = notice_catch_up(heads, 0);
    mdsm_stat.barriers++;
    mdsm_stat.barrier_s += mdsm_now() - t0;
    sync_exit();
    wd_end(&wd_api);
    return rc;
}

int mdsm_barrier(void)
{
    int rc = mdsm_collective_begin("mdsm_barrier");
    if (rc != MDSM_OK)
        return rc;
    rc = barrier();
    mdsm_collective_end();
    return rc;
}
