/* Whether other ranks' one-sided calls need their target's progress. Some
 * transports serve them only while the target is inside MPI (osc ucx, MPICH's
 * shared memory, atomics on an MPI_Win_create window under Open MPI's shared
 * memory); others complete them with the CPU or the network alone (Open MPI's
 * osc sm and rdma over shared memory, UCX rc). mdsm asks MPI once, at init,
 * instead of guessing from the library's name. */
#ifndef MDSM_RMA_PASSIVE_H
#define MDSM_RMA_PASSIVE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* What the probe touches on rank 0, zero and unused by anything else. */
struct rma_probe {
    size_t meta_off;     /* int32[2] in every meta window */
    int32_t *meta_local; /* rank 0's address of them */
    int home;            /* probe the home window too */
    size_t page_size;    /* home only: the size of a page */
    uint64_t home_disp;  /* home only: page_size + 24 bytes, 8-aligned, in every home window */
    uint8_t *home_local; /* rank 0's address of them */
    int limit_ms;        /* how long rank 0 computes at most */
};

/* Collective over comm (at least 2 ranks; called by one thread per rank,
 * after rma_init). Rank 1 makes the calls mdsm makes, each complete before
 * the next: on rank 0's meta window a get, a compare-and-swap and a put;
 * where home is set, on its home window a get and a put of a page, a
 * sharer-byte accumulate, a 64-bit fetch-and-add and a compare-and-swap (the
 * home's page_size + 24 bytes at home_disp); last a swap on
 * the meta window. Meanwhile rank 0 spins on its memory without calling MPI
 * for at most limit_ms. *served: 1 on every rank if rank 0 saw them all land
 * while spinning, else 0. The other ranks wait napping, so that the two get
 * the cores. Returns MDSM_OK, or MDSM_ERR_MPI (on every rank) if a call
 * failed. */
int rma_serves_passive(MPI_Comm comm, const struct rma_probe *pr, int *served);

#endif
