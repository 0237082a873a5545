#include "progress/progress.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "common/error.h"

static MPI_Comm pcomm = MPI_COMM_NULL;
static pthread_t thread;
static int running;
static int stop;
static int interval;
static MPI_Request poll_req = MPI_REQUEST_NULL; /* the spinning thread's own */

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

int progress_start(MPI_Comm comm, int use_thread, int interval_us)
{
    if (MPI_Comm_dup(comm, &pcomm) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "progress: MPI_Comm_dup failed");
    interval = interval_us;
    stop = 0;
    running = 0;
    static int dummy;
    MPI_Irecv(&dummy, 1, MPI_INT, MPI_ANY_SOURCE, 2, pcomm, &poll_req);
    if (!use_thread)
        return MDSM_OK;
    int err = pthread_create(&thread, NULL, loop, NULL);
    if (err != 0) {
        MPI_Cancel(&poll_req);
        MPI_Wait(&poll_req, MPI_STATUS_IGNORE);
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
    if (poll_req != MPI_REQUEST_NULL) {
        MPI_Cancel(&poll_req);
        MPI_Wait(&poll_req, MPI_STATUS_IGNORE);
    }
    if (pcomm != MPI_COMM_NULL)
        MPI_Comm_free(&pcomm);
}

void progress_poll(void)
{
    int flag;
    MPI_Test(&poll_req, &flag, MPI_STATUS_IGNORE);
    /* A waiting rank gives up its core: with more ranks than cores, the rank
     * it waits for (or, under MPICH, the target that must serve its atomics)
     * may be the one that needs it. */
    sched_yield();
}
