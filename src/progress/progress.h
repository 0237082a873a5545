/* MPI progress while the application computes: some transports serve
 * one-sided operations only when the target enters MPI, so with other ranks
 * a helper thread polls a never-matching receive every MDSM_PROGRESS_INTERVAL
 * microseconds (MPI_Test drives UCX fully; MPI_Iprobe does not). */
#ifndef MDSM_PROGRESS_PROGRESS_H
#define MDSM_PROGRESS_PROGRESS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

/* What init decided (core/init.c), and why. */
enum progress_mode {
    PROGRESS_NOT_NEEDED,        /* a single rank */
    PROGRESS_NOT_NEEDED_SERVED, /* one node, and MPI served the probe without the target */
    PROGRESS_THREAD,            /* MDSM_PROGRESS=thread */
    PROGRESS_THREAD_NEEDED,     /* auto, and needed */
    PROGRESS_OFF_ASKED,         /* MDSM_PROGRESS=off, though needed */
    PROGRESS_OFF_THREAD_LEVEL,  /* auto and needed, but MPI is below MPI_THREAD_MULTIPLE */
};

/* Collective (duplicates comm). The lowest rank left without a thread it
 * needs warns, once per process. */
int progress_start(MPI_Comm comm, enum progress_mode mode, int interval_us);
void progress_stop(void);
/* One line: "progress: ..." */
void progress_info_print(FILE *out);

/* A wait whose caller polls MPI itself, one progress_backoff per poll. For
 * its first PROGRESS_SPIN_US it only yields the CPU (short waits, such as a
 * lock handover between two ranks, end at once); then it naps, growing to
 * PROGRESS_NAP_MAX_US, so that ranks waiting long leave the cores to those
 * with work (with more ranks than cores, a spinning waiter delays the rank it
 * waits for). Incoming RMA is still served while napping: by the progress
 * thread, or at the next poll. Zero-initialise. */
struct progress_wait {
    uint64_t start_ns;
    unsigned naps;
};

void progress_backoff(struct progress_wait *w);

/* MPI_Wait for a nonblocking collective, polling with progress_backoff: a
 * blocking collective spins until the last rank arrives, taking a core from
 * the ranks still working (MPICH serves their page requests only when the
 * waiting home polls). Returns MPI_Test's error code. */
int progress_wait_request(MPI_Request *req);

#endif
