/* Barriers and fences: release = write changes home, then publish notices;
 * acquire = catch up with the notices of the releases we synchronise with. */
#include "sync/sync.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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

/* Point-to-point tags of the notice exchange, alternating by barrier so that
 * a message of the next barrier is never taken for one of this (sync/lock.c
 * uses 0x6d01 and 0x6d10 on). */
#define TAG_NOTICES 0x6d02

static MPI_Request *sends;
static int sends_cap;

static int mpi_failed(const char *what)
{
    return mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_barrier: %s failed", what);
}

/* Sends this rank's routed notices and applies those sent to it, in a sparse
 * exchange without a count per rank (Hoefler et al.'s NBX): synchronous sends,
 * a probe loop that receives whatever comes, and, once this rank's sends are
 * all matched, a nonblocking barrier; when that completes, every message of
 * every rank has been received. Every rank gets to the barrier whatever
 * fails, so that a failure never becomes a hang. */
static int exchange_notices(const struct notice_route *rt, int tag)
{
    MPI_Comm comm = mdsm_ctx.comm;
    int rc = MDSM_OK, nsent = 0, matched = 0, sent = 0, done = 0, cap;
    uint32_t *inbox = notice_barrier_inbox(&cap);
    for (int i = 0; i < rt->ndest && rc == MDSM_OK; i++) {
        if (MPI_Issend(rt->words + rt->off[i], rt->count[i], MPI_UINT32_T, rt->dest[i], tag, comm,
                       &sends[nsent]) != MPI_SUCCESS)
            rc = mpi_failed("MPI_Issend (notices)");
        else
            nsent++;
        stats_message((uint64_t)rt->count[i] * sizeof(uint32_t));
    }
    MPI_Request ibarrier = MPI_REQUEST_NULL;
    struct progress_wait w = {0};
    while (!done) {
        int flag = 0, count = 0;
        MPI_Status st;
        if (MPI_Iprobe(MPI_ANY_SOURCE, tag, comm, &flag, &st) == MPI_SUCCESS && flag) {
            MPI_Get_count(&st, MPI_UINT32_T, &count);
            if (MPI_Recv(inbox, cap, MPI_UINT32_T, st.MPI_SOURCE, tag, comm, MPI_STATUS_IGNORE) !=
                MPI_SUCCESS) {
                rc = rc != MDSM_OK ? rc : mpi_failed("MPI_Recv (notices)");
            } else {
                sync_enter();
                int arc = notice_barrier_receive(st.MPI_SOURCE, inbox, count);
                sync_exit();
                rc = rc != MDSM_OK ? rc : arc;
            }
            memset(&w, 0, sizeof(w));
            continue;
        }
        if (!sent) {
            int one = 1; /* MPI_Test each: MPICH's MPI_Testall trips GCC's -Wstringop-overflow */
            while (matched < nsent && one) {
                if (MPI_Test(&sends[matched], &one, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
                    rc = rc != MDSM_OK ? rc : mpi_failed("MPI_Test (notices)");
                    one = 1;
                }
                matched += one;
            }
            sent = matched == nsent;
            if (sent && MPI_Ibarrier(comm, &ibarrier) != MPI_SUCCESS)
                return rc != MDSM_OK ? rc : mpi_failed("MPI_Ibarrier");
            if (sent)
                stats_collective(0);
        } else if (MPI_Test(&ibarrier, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
            return rc != MDSM_OK ? rc : mpi_failed("MPI_Ibarrier");
        }
        if (!done)
            progress_backoff(&w);
    }
    return rc;
}

static int barrier(void)
{
    double t0 = mdsm_now();
    int n = mdsm_ctx.nranks;
    wd_barrier(WD_BARRIER_RELEASE, ++mdsm_ctx.barriers);
    int rc = sync_release(0); /* every rank catches up below */
    const uint32_t *mine_entries = NULL;
    int mine_count = 0;
    sync_enter();
    uint64_t mine = notice_barrier_stage(&mine_entries, &mine_count);
    sync_exit();
    /* The messages are laid out before the heads go, so that a failure to
     * is known to every rank there. The buffers are the barrier's: no mutex. */
    struct notice_route rt = {0};
    if (rc == MDSM_OK)
        rc = notice_barrier_route(mine_entries, mine_count, &rt);
    if (rc == MDSM_OK && rt.ndest > sends_cap) {
        MPI_Request *grown = realloc(sends, (size_t)rt.ndest * sizeof(*sends));
        if (grown) {
            sends = grown;
            sends_cap = rt.ndest;
        } else {
            rc = mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "mdsm_barrier: requests");
        }
    }
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
    if (n > 1)
        xrc = exchange_notices(&rt, TAG_NOTICES + (int)(mdsm_ctx.barriers & 1));
    wd_step(&wd_api, WD_BARRIER_CATCH_UP);
    /* Every rank moves its base to the same heads even if the exchange
     * failed: what it missed it then reads from the logs. */
    sync_enter();
    rc = notice_barrier_finish(heads, mdsm_ctx.barriers, xrc == MDSM_OK);
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
