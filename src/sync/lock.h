/* Distributed FIFO locks: an MCS queue per lock on MPI atomics. */
#ifndef MDSM_SYNC_LOCK_H
#define MDSM_SYNC_LOCK_H

int lock_init(int rank, int nranks, int num_locks);
void lock_fini(void);

#endif
