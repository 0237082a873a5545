/* MPI progress while the application computes: some transports serve
 * one-sided operations only when the target enters MPI, so a helper thread
 * polls a never-matching receive every MDSM_PROGRESS_INTERVAL microseconds
 * (MPI_Test drives UCX fully; MPI_Iprobe does not). */
#ifndef MDSM_PROGRESS_PROGRESS_H
#define MDSM_PROGRESS_PROGRESS_H

#include <mpi.h>

int progress_start(MPI_Comm comm, int thread, int interval_us);
void progress_stop(void);

/* One poll from the calling thread, then a yield of the CPU (used while spinning). */
void progress_poll(void);

#endif
