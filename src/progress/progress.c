#include "progress/progress.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "common/log.h"

static MPI_Comm pcomm = MPI_COMM_NULL;
static pthread_t thread;
static int running;
static int stop;
static int interval;
static enum progress_mode mode_now;

static int has_thread(enum progress_mode m)
{
    return m == PROGRESS_THREAD || m == PROGRESS_THREAD_NEEDED;
}

/* Once per process, on the lowest rank concerned: without progress, a rank
 * computing outside MPI holds up the others' requests to it. */
static void warn_without_thread(enum progress_mode m)
{
    static int warned;
    int me = 0, mine = 0, lowest = 0;
    MPI_Comm_rank(pcomm, &me);
    mine = m == PROGRESS_OFF_THREAD_LEVEL ? me : INT_MAX;
    if (MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, pcomm) != MPI_SUCCESS)
        lowest = me;
    if (warned || mine == INT_MAX || mine != lowest)
        return;
    warned = 1;
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    MDSM_WARN("no progress thread: MPI provides %s, below MPI_THREAD_MULTIPLE. A rank that "
              "computes without calling MPI or mdsm delays other ranks' page faults, locks and "
              "atomics on its pages until its next call; initialise MPI with "
              "MPI_Init_thread(MPI_THREAD_MULTIPLE) to avoid it",
              level == MPI_THREAD_SINGLE     ? "MPI_THREAD_SINGLE"
              : level == MPI_THREAD_FUNNELED ? "MPI_THREAD_FUNNELED"
                                             : "MPI_THREAD_SERIALIZED");
}

void progress_info_print(FILE *out)
{
    switch (mode_now) {
    case PROGRESS_NOT_NEEDED: fprintf(out, "progress: none needed (a single rank)\n"); break;
    case PROGRESS_NOT_NEEDED_SERVED:
        fprintf(out, "progress: none needed (one node, and MPI completed rank 1's one-sided calls "
                     "on rank 0's windows while rank 0 computed: probed at init; a node's ranks "
                     "share one transport)\n");
        break;
    case PROGRESS_THREAD:
    case PROGRESS_THREAD_NEEDED:
        fprintf(out, "progress: thread, polling MPI every %d us (MDSM_PROGRESS=%s)\n", interval,
                mode_now == PROGRESS_THREAD ? "thread" : "auto");
        break;
    case PROGRESS_OFF_ASKED:
    case PROGRESS_OFF_THREAD_LEVEL:
        fprintf(out,
                "progress: off (%s): a rank computing outside MPI delays others' requests to "
                "its pages\n",
                mode_now == PROGRESS_OFF_ASKED ? "MDSM_PROGRESS=off"
                                               : "MPI is below MPI_THREAD_MULTIPLE");
        break;
    }
}

static void *loop(void *arg)
{
    (void)arg;
    MPI_Request req;
    int dummy, done = 0;
    MPI_Irecv(&dummy, 1, MPI_INT, MPI_ANY_SOURCE, 1, pcomm, &req);
    struct timespec ts = {0, (long)interval * 1000};
    while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        nanosleep(&ts, NULL);
    }
    MPI_Cancel(&req);
    MPI_Wait(&req, MPI_STATUS_IGNORE);
    return NULL;
}

int progress_start(MPI_Comm comm, enum progress_mode mode, int interval_us)
{
    if (MPI_Comm_dup(comm, &pcomm) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress: MPI_Comm_dup failed");
    interval = interval_us;
    mode_now = mode;
    stop = 0;
    running = 0;
    warn_without_thread(mode);
    if (!has_thread(mode))
        return MDSM_OK;
    int err = pthread_create(&thread, NULL, loop, NULL);
    if (err != 0) {
        MPI_Comm_free(&pcomm);
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "progress: pthread_create: %s", strerror(err));
    }
    running = 1;
    return MDSM_OK;
}

void progress_stop(void)
{
    if (running) {
        __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
        pthread_join(thread, NULL);
        running = 0;
    }
    if (pcomm != MPI_COMM_NULL)
        MPI_Comm_free(&pcomm);
}

#define PROGRESS_SPIN_US    200
#define PROGRESS_NAP_MAX_US 50

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void progress_backoff(struct progress_wait *w)
{
    if (w->naps == 0) {
        uint64_t t = now_ns();
        if (w->start_ns == 0)
            w->start_ns = t;
        if (t - w->start_ns < PROGRESS_SPIN_US * 1000u) {
            sched_yield();
            return;
        }
    }
    /* 1, 2, 4 ... us, each size twice, up to the cap. */
    unsigned us = w->naps / 2 < 6 ? 1u << (w->naps / 2) : PROGRESS_NAP_MAX_US;
    if (us > PROGRESS_NAP_MAX_US)
        us = PROGRESS_NAP_MAX_US;
    w->naps++;
    struct timespec ts = {0, (long)us * 1000};
    nanosleep(&ts, NULL);
}

int progress_wait_request(MPI_Request *req)
{
    struct progress_wait wait = {0, 0};
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        progress_backoff(&wait);
    }
}
