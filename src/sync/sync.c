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

/* Waits for a nonblocking collective; counts it. */
static int wait_collective(int mrc, MPI_Request *req, uint64_t bytes, const char *what)
{
    if (mrc == MPI_SUCCESS)
        mrc = progress_wait_request(req);
    stats_collective(bytes);
    return mrc == MPI_SUCCESS ? MDSM_OK
                              : mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_barrier: %s failed", what);
}

static int barrier(void)
{
    double t0 = mdsm_now();
    int n = mdsm_ctx.nranks, me = mdsm_ctx.rank;
    wd_barrier(WD_BARRIER_RELEASE, ++mdsm_ctx.barriers);
    int rc = sync_release(0); /* every rank catches up below */
    const uint32_t *mine_entries = NULL;
    int mine_count = 0;
    sync_enter();
    uint64_t mine = notice_barrier_stage(&mine_entries, &mine_count);
    sync_exit();
    /* Every rank enters the exchange even after a local failure, so that a
     * failure never becomes a hang; a failed rank's head is marked invalid,
     * and every rank, seeing the same heads, stops after them. */
    if (rc != MDSM_OK)
        mine = UINT64_MAX;
    uint64_t *heads = mdsm_ctx.barrier_heads; /* the exchange holds no mutex */
    wd_step(&wd_api, WD_BARRIER_EXCHANGE);
    MPI_Request req;
    int xrc = wait_collective(
        MPI_Iallgather(&mine, 1, MPI_UINT64_T, heads, 1, MPI_UINT64_T, mdsm_ctx.comm, &req), &req,
        (uint64_t)n * sizeof(*heads), "MPI_Iallgather");
    for (int r = 0; r < n && rc == MDSM_OK && xrc == MDSM_OK; r++)
        if (heads[r] == UINT64_MAX)
            rc = mdsm_fail(MDSM_ERR_REMOTE, "mdsm_barrier: rank %d failed to release", r);
    if (rc != MDSM_OK || xrc != MDSM_OK) {
        wd_end(&wd_api);
        return rc != MDSM_OK ? rc : xrc;
    }
    /* The entries, in rounds laid out alike on every rank from the heads
     * (unless few ranks wrote: notice_barrier_finish then reads their logs). */
    int gather = notice_barrier_writers(heads) > BARRIER_PULL_MAX;
    for (int r0 = 0; r0 < n && gather;) { /* every round on every rank, failed or not */
        uint32_t *recv;
        const int *counts, *displs;
        sync_enter();
        int r1 = notice_barrier_round(heads, r0, &recv, &counts, &displs);
        sync_exit();
        uint64_t bytes = ((uint64_t)displs[r1 - 1] + (uint64_t)counts[r1 - 1]) * sizeof(*recv);
        int send = me >= r0 && me < r1 ? mine_count : 0;
        int grc = wait_collective(MPI_Iallgatherv(mine_entries, send, MPI_UINT32_T, recv, counts,
                                                  displs, MPI_UINT32_T, mdsm_ctx.comm, &req),
                                  &req, bytes, "MPI_Iallgatherv");
        xrc = xrc != MDSM_OK ? xrc : grc;
        if (grc == MDSM_OK) {
            sync_enter();
            notice_barrier_apply_round(heads, r0, r1);
            sync_exit();
        }
        r0 = r1;
    }
    wd_step(&wd_api, WD_BARRIER_CATCH_UP);
    /* Every rank moves its base to the same heads even if the entries did not
     * all come: what it missed it then reads from the logs. */
    sync_enter();
    rc = notice_barrier_finish(heads, mdsm_ctx.barriers);
    rc = xrc != MDSM_OK ? xrc : rc;
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
