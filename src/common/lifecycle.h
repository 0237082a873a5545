/* Process-wide lifecycle facts, kept in the lowest module so that every
 * module, the fault handler included, can read them. */
#ifndef MDSM_COMMON_LIFECYCLE_H
#define MDSM_COMMON_LIFECYCLE_H

#include <pthread.h>
#include <signal.h>

struct mdsm_lifecycle {
    int finalized;                /* a session ended and none has started since */
    volatile sig_atomic_t forked; /* this process was forked after an mdsm_init */
    int any_thread;               /* MPI_THREAD_MULTIPLE: any thread may use mdsm */
    pthread_t init_thread;        /* the thread that called mdsm_init (the only one otherwise) */
    int in_collective;            /* a thread is inside mdsm_barrier, _alloc, _free, _finalize */
};

extern struct mdsm_lifecycle mdsm_life;

#endif
