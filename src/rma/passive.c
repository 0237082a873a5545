#include "rma/passive.h"

#include <sched.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "rma/rma.h"

#define PROBE_TARGET 0
#define PROBE_ORIGIN 1
#define PROBE_VALUE  0x6d64736d /* "mdsm" */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 1: each call completes (flushed) before the next is issued. */
static int origin_calls(size_t off)
{
    int32_t got = 0, old = 0, value = PROBE_VALUE;
    int rc = rma_meta_get(PROBE_TARGET, off + sizeof(int32_t), &got, sizeof(got));
    if (rc == MDSM_OK)
        rc = rma_meta_cas32(PROBE_TARGET, off, 0, 1, &old);
    if (rc == MDSM_OK)
        rc = rma_meta_put(PROBE_TARGET, off + sizeof(int32_t), &value, sizeof(value));
    if (rc == MDSM_OK)
        rc = rma_meta_swap32(PROBE_TARGET, off, 2, &old);
    return rc;
}

/* Rank 0: no MPI call here, only loads of its own window memory. The swap is
 * issued after the put completed, so seeing it means all four landed. */
static int target_spin(const int32_t *local, int limit_ms)
{
    double end = now_s() + limit_ms * 1e-3;
    do {
        if (__atomic_load_n(&local[0], __ATOMIC_ACQUIRE) == 2 &&
            __atomic_load_n(&local[1], __ATOMIC_ACQUIRE) == PROBE_VALUE)
            return 1;
        sched_yield();
    } while (now_s() < end);
    return 0;
}

int rma_meta_serves_passive(MPI_Comm comm, size_t off, int32_t *local, int limit_ms, int *served)
{
    int me = 0;
    MPI_Comm_rank(comm, &me);
    /* 1: served; 0: not; -1: a call failed. The minimum over the ranks. */
    int mine = 1, all = 0;
    if (me == PROBE_ORIGIN)
        mine = origin_calls(off) == MDSM_OK ? 1 : -1;
    else if (me == PROBE_TARGET)
        mine = target_spin(local, limit_ms);
    /* Napping, not MPI's busy wait: the other ranks leave the cores to the two. */
    MPI_Request req;
    int done = 0;
    if (MPI_Iallreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm, &req) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress probe: MPI_Iallreduce failed");
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done)
        nanosleep(&(struct timespec){0, 20000}, NULL);
    if (!done)
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress probe: MPI_Test failed");
    if (all < 0)
        return mdsm_fail_internal(MDSM_ERR_MPI,
                                  "progress probe: a one-sided call on the metadata window failed");
    *served = all;
    if (me == PROBE_TARGET)
        MDSM_INFO("progress probe: the metadata window's one-sided calls %s while their target "
                  "computed",
                  all ? "completed" : "waited");
    return MDSM_OK;
}
