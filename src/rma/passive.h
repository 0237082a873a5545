/* Whether other ranks' one-sided calls need this rank's progress. Some
 * transports serve them only while the target is inside MPI (osc ucx over
 * TCP, MPICH's shared memory); others complete them with the CPU or the
 * network alone (Open MPI's osc sm and rdma over shared memory, UCX rc). mdsm
 * asks MPI once, at init, instead of guessing from the library's name. */
#ifndef MDSM_RMA_PASSIVE_H
#define MDSM_RMA_PASSIVE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#define PROBE_ORIGINS 2

/* Up to two ranks probe rank 0 at once: a rank of rank 0's node and a rank
 * of another node, each on the windows its real traffic uses. */
struct rma_probe {
    int origin[PROBE_ORIGINS]; /* rank, or -1 */
    int home[PROBE_ORIGINS];   /* it reaches rank 0's pages by RMA: probe the home window too */
    size_t meta_off;           /* int32[2 * PROBE_ORIGINS] in every meta window, zero */
    int32_t *meta_local;       /* rank 0's address of them */
    uint64_t home_disp;        /* 32 * PROBE_ORIGINS bytes in every home window, zero */
    uint8_t *home_local;       /* rank 0's address of them */
    int limit_ms;              /* how long rank 0 computes at most */
};

/* Collective over comm (called by one thread per rank, after rma_init). Each
 * origin makes the calls mdsm makes, each complete before the next: on the
 * meta window a get, a compare-and-swap and a put; on the home window (where
 * home[i]) a get, a put, a sharer-byte accumulate, a 64-bit fetch-and-add
 * and compare-and-swap; and last a swap on the meta window. Meanwhile rank 0
 * spins on its memory without calling MPI, until every origin's calls have
 * landed or limit_ms has passed. *served: 1 on every rank if they all
 * landed, else 0. The other ranks wait napping, leaving the cores to the
 * probe. Rank 0's other threads must not call MPI meanwhile (they would
 * progress it). Returns MDSM_OK, or MDSM_ERR_MPI (on every rank) if a call
 * failed. */
int rma_probe_passive(MPI_Comm comm, const struct rma_probe *pr, int *served);

#endif
