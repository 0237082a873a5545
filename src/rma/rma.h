/* The only module that calls MPI_Win_*. Two windows, both in one long
 * passive-target epoch (lock_all) with flushes:
 *  - the home window: each rank's arena of home pages (MPI_Win_create over the
 *    memfd mapping, so the same memory is used in place at global addresses);
 *  - the meta window: notice logs, lock queues and fences (MPI_Win_allocate).
 * Blocking calls return when the operation is complete at the target. */
#ifndef MDSM_RMA_RMA_H
#define MDSM_RMA_RMA_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

/* A run of changed bytes inside a page. */
struct mdsm_run {
    uint32_t off, len;
};

/* Set at init from QUIRK_ATOMICS64_EMULATED (rma/quirks.h): 64-bit atomics
 * then run under striped 32-bit locks at the target instead. */
extern int rma_atomics_emulated;

/* Collective. stripe_off/nstripes locate the int32 stripe locks used when
 * atomics are emulated, inside the meta window. */
int rma_init(MPI_Comm comm, void *arena, size_t arena_size, size_t meta_size, size_t stripe_off,
             int nstripes, char **meta_base);
void rma_fini(void);

/* Home window. */
int rma_get(int rank, uint64_t disp, void *buf, size_t len);
/* Writes the runs of page (a local buffer laid out like the home page at disp)
 * to the home. Runs that continue the previous one at both ends (across a
 * page boundary too) join it in one contiguous put, issued when a run does
 * not continue it, or by rma_flush_home(), which completes everything at every
 * home written since (one MPI_Win_flush each) and reports a failed put.
 * Until then page must hold the same data (a byte written meanwhile is sent
 * old or new): callers serialise the two. */
int rma_put_runs(int rank, uint64_t disp, const char *page, const struct mdsm_run *runs, int nruns);
int rma_flush_home(void);
/* n blocks of len bytes, stride bytes apart from disp, into buf laid out
 * alike: a get each, then one flush. */
int rma_get_strided(int rank, uint64_t disp, char *buf, size_t len, uint64_t n, uint64_t stride);
/* Sets count bytes of rank's home window to 1, stride bytes apart from disp
 * (MPI_REPLACE accumulates, atomic per byte with others' on them), complete
 * there on return. */
int rma_mark(int rank, uint64_t disp, uint64_t count, uint64_t stride);
/* Orders this rank's loads of its own home window with others' RMA on it. */
void rma_home_sync(void);
int rma_fetch_add64(int rank, uint64_t disp, int64_t value, int64_t *old);
int rma_cas64(int rank, uint64_t disp, int64_t expected, int64_t desired, int64_t *old);

/* Meta window. */
int rma_meta_get(int rank, size_t off, void *buf, size_t len);
/* Pending until rma_meta_flush_all (each target read since); callers serialise the two. */
int rma_meta_get_nb(int rank, size_t off, void *buf, size_t len);
int rma_meta_flush_all(void);
int rma_meta_put(int rank, size_t off, const void *buf, size_t len);
int rma_meta_swap32(int rank, size_t off, int32_t value, int32_t *old);
int rma_meta_cas32(int rank, size_t off, int32_t expected, int32_t desired, int32_t *old);
/* Atomic *old = word, word += value (value 0 reads it atomically). */
int rma_meta_fetch_add64(int rank, size_t off, uint64_t value, uint64_t *old);
/* Orders this rank's loads and stores on its own meta memory with RMA. */
void rma_meta_sync(void);

#endif
