#include "rma/passive.h"

#include <sched.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "rma/rma.h"

#define PROBE_VALUE   0x6d64736d /* "mdsm" */
#define PROBE_VALUE64 0x6d64736d2070726full
#define HOME_SLOT     32 /* bytes per origin: put word, atomic word, sharer byte */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int home_calls(uint64_t at)
{
    uint64_t got = 0, value = PROBE_VALUE64;
    int64_t old = 0;
    struct mdsm_run run = {0, sizeof(value)};
    int rc = rma_get(0, at, &got, sizeof(got));
    if (rc == MDSM_OK)
        rc = rma_put_runs(0, at, (const char *)&value, &run, 1);
    if (rc == MDSM_OK)
        rc = rma_flush_home();
    if (rc == MDSM_OK)
        rc = rma_mark(0, at + 16, 1);
    if (rc == MDSM_OK)
        rc = rma_fetch_add64(0, at + 8, 1, &old);
    if (rc == MDSM_OK)
        rc = rma_cas64(0, at + 8, 1, 5, &old);
    return rc;
}

/* Origin i: each call completes (flushed) before the next is issued, and the
 * swap that rank 0 waits for comes last. */
static int origin_calls(const struct rma_probe *pr, int i)
{
    size_t off = pr->meta_off + (size_t)i * 2 * sizeof(int32_t);
    int32_t got = 0, old = 0, value = PROBE_VALUE;
    int rc = rma_meta_get(0, off + sizeof(int32_t), &got, sizeof(got));
    if (rc == MDSM_OK)
        rc = rma_meta_cas32(0, off, 0, 1, &old);
    if (rc == MDSM_OK)
        rc = rma_meta_put(0, off + sizeof(int32_t), &value, sizeof(value));
    if (rc == MDSM_OK && pr->home[i])
        rc = home_calls(pr->home_disp + (uint64_t)i * HOME_SLOT);
    if (rc == MDSM_OK)
        rc = rma_meta_swap32(0, off, 2, &old);
    return rc;
}

static int landed(const struct rma_probe *pr, int i)
{
    const int32_t *m = pr->meta_local + 2 * i;
    if (__atomic_load_n(&m[0], __ATOMIC_ACQUIRE) != 2 ||
        __atomic_load_n(&m[1], __ATOMIC_ACQUIRE) != PROBE_VALUE)
        return 0;
    if (!pr->home[i])
        return 1;
    const uint8_t *h = pr->home_local + (size_t)i * HOME_SLOT;
    uint64_t put, atom;
    memcpy(&put, h, sizeof(put));
    memcpy(&atom, h + 8, sizeof(atom));
    return put == PROBE_VALUE64 && atom == 5 && h[16] == 1;
}

/* Rank 0: no MPI call here, only loads of its own window memory. */
static int target_spin(const struct rma_probe *pr)
{
    double end = now_s() + pr->limit_ms * 1e-3;
    do {
        int all = 1;
        for (int i = 0; i < PROBE_ORIGINS; i++)
            all &= pr->origin[i] < 0 || landed(pr, i);
        if (all)
            return 1;
        sched_yield();
    } while (now_s() < end);
    return 0;
}

int rma_probe_passive(MPI_Comm comm, const struct rma_probe *pr, int *served)
{
    int me = 0;
    MPI_Comm_rank(comm, &me);
    /* 1: served; 0: not; -1: a call failed. The minimum over the ranks. */
    int mine = 1, all = 0;
    if (me == 0) {
        mine = target_spin(pr);
    } else {
        for (int i = 0; i < PROBE_ORIGINS; i++)
            if (pr->origin[i] == me && origin_calls(pr, i) != MDSM_OK)
                mine = -1;
    }
    /* Napping, not MPI's busy wait: the others leave the cores to the probe. */
    MPI_Request req;
    int done = 0;
    if (MPI_Iallreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm, &req) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress probe: MPI_Iallreduce failed");
    while (MPI_Test(&req, &done, MPI_STATUS_IGNORE) == MPI_SUCCESS && !done)
        nanosleep(&(struct timespec){0, 20000}, NULL);
    if (!done)
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress probe: MPI_Test failed");
    if (all < 0)
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress probe: a one-sided call failed");
    *served = all;
    if (me == 0)
        MDSM_INFO("progress probe: one-sided calls %s while their target computed",
                  all ? "completed" : "waited");
    return MDSM_OK;
}
