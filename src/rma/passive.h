/* Whether the meta window needs its target's progress. Some transports serve
 * one-sided calls only while the target is inside MPI (osc ucx, MPICH's shared
 * memory); others complete them with the CPU or the network alone (Open MPI's
 * osc sm and rdma over shared memory, UCX rc). mdsm asks MPI once, at init,
 * instead of guessing from the library's name. */
#ifndef MDSM_RMA_PASSIVE_H
#define MDSM_RMA_PASSIVE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* Collective over comm (at least 2 ranks; called by one thread per rank,
 * after rma_init). Rank 1 does a get, a compare-and-swap, a put and a swap
 * on rank 0's meta window at off (two int32, zero, unused by anything else;
 * local is rank 0's address of them), each complete before the next, while
 * rank 0 spins on its memory without calling MPI for at most limit_ms.
 * *served: 1 on every rank if rank 0 saw the last of them land while
 * spinning, else 0. The other ranks wait napping, so that the two get the
 * cores. Returns MDSM_OK, or MDSM_ERR_MPI (on every rank) if a call failed. */
int rma_meta_serves_passive(MPI_Comm comm, size_t off, int32_t *local, int limit_ms, int *served);

#endif
