#include "rma/passive.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"
#include "rma/rma.h"

#define PROBE_TARGET  0
#define PROBE_ORIGIN  1
#define PROBE_VALUE   0x6d64736d /* "mdsm" */
#define PROBE_VALUE64 0x6d64736d2070726full

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Rank 1, on rank 0's home window: what a fetch and a release of a page,
 * the sharer mark and mdsm's atomics do. page: a page of memory, filled here. */
static int home_calls(const struct rma_probe *pr, char *page)
{
    uint64_t at = pr->home_disp, value = PROBE_VALUE64;
    int64_t old = 0;
    struct mdsm_run run = {0, (uint32_t)pr->page_size};
    int rc = rma_get(PROBE_TARGET, at, page, pr->page_size);
    for (size_t i = 0; i + sizeof(value) <= pr->page_size; i += sizeof(value))
        memcpy(page + i, &value, sizeof(value));
    if (rc == MDSM_OK)
        rc = rma_put_runs(PROBE_TARGET, at, page, &run, 1);
    if (rc == MDSM_OK)
        rc = rma_flush_home();
    at += pr->page_size;
    if (rc == MDSM_OK)
        rc = rma_mark(PROBE_TARGET, at + 16, 1, 1);
    if (rc == MDSM_OK)
        rc = rma_fetch_add64(PROBE_TARGET, at + 8, 1, &old);
    if (rc == MDSM_OK)
        rc = rma_cas64(PROBE_TARGET, at + 8, 1, 5, &old);
    return rc;
}

/* Rank 1: each call completes (flushed) before the next is issued, and the
 * swap that rank 0 waits for comes last. */
static int origin_calls(const struct rma_probe *pr)
{
    size_t off = pr->meta_off;
    int32_t got = 0, old = 0, value = PROBE_VALUE;
    int rc = rma_meta_get(PROBE_TARGET, off + sizeof(int32_t), &got, sizeof(got));
    if (rc == MDSM_OK)
        rc = rma_meta_cas32(PROBE_TARGET, off, 0, 1, &old);
    if (rc == MDSM_OK)
        rc = rma_meta_put(PROBE_TARGET, off + sizeof(int32_t), &value, sizeof(value));
    if (rc == MDSM_OK && pr->home) {
        char *page = malloc(pr->page_size);
        rc = page ? home_calls(pr, page)
                  : mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "progress probe: a page buffer");
        free(page);
    }
    if (rc == MDSM_OK)
        rc = rma_meta_swap32(PROBE_TARGET, off, 2, &old);
    return rc;
}

static int landed(const struct rma_probe *pr)
{
    const int32_t *m = pr->meta_local;
    if (__atomic_load_n(&m[0], __ATOMIC_ACQUIRE) != 2 ||
        __atomic_load_n(&m[1], __ATOMIC_ACQUIRE) != PROBE_VALUE)
        return 0;
    if (!pr->home)
        return 1;
    /* After the swap, which was issued once these had completed. */
    uint64_t first, last, atom;
    const uint8_t *tail = pr->home_local + pr->page_size;
    memcpy(&first, pr->home_local, sizeof(first));
    memcpy(&last, tail - sizeof(last), sizeof(last));
    memcpy(&atom, tail + 8, sizeof(atom));
    return first == PROBE_VALUE64 && last == PROBE_VALUE64 && atom == 5 && tail[16] == 1;
}

/* Rank 0: no MPI call here, only loads of its own window memory. */
static int target_spin(const struct rma_probe *pr)
{
    double end = now_s() + pr->limit_ms * 1e-3;
    do {
        if (landed(pr))
            return 1;
        sched_yield();
    } while (now_s() < end);
    return 0;
}

int rma_serves_passive(MPI_Comm comm, const struct rma_probe *pr, int *served)
{
    int me = 0;
    MPI_Comm_rank(comm, &me);
    /* 1: served; 0: not; -1: a call failed. The minimum over the ranks. */
    int mine = 1, all = 0;
    if (me == PROBE_ORIGIN)
        mine = origin_calls(pr) == MDSM_OK ? 1 : -1;
    else if (me == PROBE_TARGET)
        mine = target_spin(pr);
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
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress probe: a one-sided call failed");
    *served = all;
    if (me == PROBE_TARGET)
        MDSM_INFO("progress probe: one-sided calls on the metadata window%s %s while their "
                  "target computed",
                  pr->home ? " and the home window" : "", all ? "completed" : "waited");
    return MDSM_OK;
}
