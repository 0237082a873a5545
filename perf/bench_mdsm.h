/* Helpers for benchmarks that use mdsm global memory: error checks and pages
 * homed on a chosen rank. Define BENCH_NAME before including it. */
#ifndef MDSM_PERF_BENCH_MDSM_H
#define MDSM_PERF_BENCH_MDSM_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mdsm.h"

#ifndef BENCH_NAME
#define BENCH_NAME "bench"
#endif

/* A failed mdsm call ends the whole job: a benchmark has no way around it. */
static inline void bench_check(int rc, const char *what)
{
    if (rc == MDSM_OK)
        return;
    fprintf(stderr, BENCH_NAME ": rank %d: %s failed: %s: %s\n", mdsm_rank(), what,
            mdsm_strerror(rc), mdsm_last_error_message());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

/* Collective: mdsm_alloc, ending the job if it fails. */
static inline void *bench_alloc(size_t bytes)
{
    void *p = mdsm_alloc(bytes);
    if (!p)
        bench_check(mdsm_last_error(), "mdsm_alloc");
    return p;
}

/* Collective. Allocates nranks * k pages, which with either distribution
 * holds k pages homed on home, and returns those pages' addresses (malloc'd)
 * and the allocation in *base. */
static inline char **bench_pages_homed_on(int home, int k, long page, char **base)
{
    size_t bytes = (size_t)k * (size_t)page * (size_t)mdsm_nranks();
    char *mem = bench_alloc(bytes);
    char **out = calloc((size_t)k, sizeof(*out));
    if (!out)
        MPI_Abort(MPI_COMM_WORLD, 1);
    int found = 0;
    for (size_t off = 0; off < bytes && found < k; off += (size_t)page)
        if (mdsm_home_of(mem + off) == home)
            out[found++] = mem + off;
    if (found < k) {
        fprintf(stderr, BENCH_NAME ": only %d of %d pages are homed on rank %d\n", found, k, home);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    *base = mem;
    return out;
}

/* Collective: a round of the read benchmarks. After the readers are done
 * with the last one, rank home writes round into word 0 of each of its k
 * pages; the barrier then invalidates every other rank's copies. */
static inline void bench_home_writes(char **pages, int k, int home, uint64_t round)
{
    bench_check(mdsm_barrier(), "mdsm_barrier");
    if (mdsm_rank() == home)
        for (int i = 0; i < k; i++)
            *(volatile uint64_t *)pages[i] = round;
    bench_check(mdsm_barrier(), "mdsm_barrier");
}

/* MPI_Init_thread (MPI_THREAD_MULTIPLE) and mdsm_init; aborts the job if
 * either fails or there are fewer than 2 ranks. */
static inline void bench_start_pair(int *argc, char ***argv)
{
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
    bench_check(mdsm_init(MPI_COMM_WORLD, NULL), "mdsm_init");
    if (mdsm_nranks() < 2) {
        fprintf(stderr, BENCH_NAME ": needs at least 2 ranks\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

/* The order of a read round: address order, last page first (no miss in
 * address order: nothing is prefetched), or address order after one
 * mdsm_prefetch of the whole range, timed with the reads. */
enum bench_reads { BENCH_FORWARD, BENCH_BACKWARD, BENCH_HINTED };

/* Collective: one round of a read benchmark (bench_home_writes with round),
 * then rank 0 reads word 0 of each of the k pages as how says, adding to
 * *bad each that lacks round. Seconds per page on rank 0, 0 elsewhere. */
static inline double bench_read_round(char **pages, int k, int home, uint64_t round,
                                      enum bench_reads how, uint64_t *bad)
{
    bench_home_writes(pages, k, home, round);
    if (mdsm_rank() != 0)
        return 0.0;
    uint64_t wrong = 0;
    double t = MPI_Wtime();
    if (how == BENCH_HINTED)
        bench_check(mdsm_prefetch(pages[0], (size_t)(pages[k - 1] - pages[0]) + sizeof(uint64_t)),
                    "mdsm_prefetch");
    for (int n = 0; n < k; n++)
        wrong += *(volatile uint64_t *)pages[how == BENCH_BACKWARD ? k - 1 - n : n] != round;
    t = MPI_Wtime() - t;
    *bad += wrong;
    return t / k;
}

#endif
