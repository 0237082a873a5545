/* Helpers for benchmarks that use mdsm global memory: error checks and pages
 * homed on a chosen rank. Define BENCH_NAME before including it. */
#ifndef MDSM_PERF_BENCH_MDSM_H
#define MDSM_PERF_BENCH_MDSM_H

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

/* Collective. Allocates nranks * k pages, which with either distribution
 * holds k pages homed on home, and returns those pages' addresses (malloc'd)
 * and the allocation in *base. */
static inline char **bench_pages_homed_on(int home, int k, long page, char **base)
{
    size_t bytes = (size_t)k * (size_t)page * (size_t)mdsm_nranks();
    char *mem = mdsm_alloc(bytes);
    if (!mem)
        bench_check(mdsm_last_error(), "mdsm_alloc");
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

#endif
