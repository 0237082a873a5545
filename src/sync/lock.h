/* Distributed FIFO locks: an MCS queue per lock, its tail at the lock's home
 * (MPI atomics), handed over with point-to-point messages. */
#ifndef MDSM_SYNC_LOCK_H
#define MDSM_SYNC_LOCK_H

#include <mpi.h>

/* Local: tables, and the receive for successors' links on comm (mdsm's
 * private communicator, whose point-to-point tags 0x6d01 and 0x6d10 + lock id are the
 * locks'). lock_fini cancels it. */
int lock_init(MPI_Comm comm, int rank, int nranks, int num_locks);
void lock_fini(void);

#endif
