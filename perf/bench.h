/* Shared benchmark harness: repetitions, medians and the result table.
 * Every benchmark reports its figure beside a baseline measured in the same
 * run, because these machines are noisy; the ratio is what to compare. */
#ifndef MDSM_PERF_BENCH_H
#define MDSM_PERF_BENCH_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define BENCH_MAX_REPS 4096

typedef double (*bench_fn)(void *arg); /* returns seconds for one repetition */

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median over reps (after warmup) of fn's seconds. */
static inline double bench_median(bench_fn fn, void *arg, int warmup, int reps)
{
    static double t[BENCH_MAX_REPS];
    if (reps > BENCH_MAX_REPS)
        reps = BENCH_MAX_REPS;
    for (int i = 0; i < warmup; i++)
        fn(arg);
    for (int i = 0; i < reps; i++)
        t[i] = fn(arg);
    qsort(t, (size_t)reps, sizeof(double), bench_cmp);
    return t[reps / 2];
}

/* Positive integer from environment variable name, else fallback. */
static inline int bench_env_int(const char *name, int fallback)
{
    const char *r = getenv(name);
    return r && atoi(r) > 0 ? atoi(r) : fallback;
}

static inline int bench_reps(int fallback)
{
    return bench_env_int("BENCH_REPS", fallback);
}

/* Starts a timed step on every rank at once: a barrier, then the clock. */
static inline double bench_start(void)
{
    MPI_Barrier(MPI_COMM_WORLD);
    return MPI_Wtime();
}

static inline void bench_header(const char *title)
{
    printf("# %s\n# %-34s %14s %14s %8s\n", title, "case", "mdsm (us)", "baseline (us)", "ratio");
}

static inline void bench_row(const char *name, double mdsm_s, double base_s)
{
    printf("  %-34s %14.2f %14.2f %8.2f\n", name, mdsm_s * 1e6, base_s * 1e6, mdsm_s / base_s);
}

/* A baseline window of size bytes (this rank's share; 0 for none), filled
 * with fill. created 0: MPI_Win_allocate's (shared memory on one node: what
 * hand-written MPI code would use); 1: MPI_Win_create's over a shared
 * mapping, the kind mdsm's home pages need to be used in place (on one node
 * Open MPI moves its data with a system call per operation). lock_all: in
 * one passive epoch until bench_win_close. Collective. */
struct bench_win {
    MPI_Win win;
    char *mem;
    size_t mapped; /* created: the mapping's bytes */
    int lock_all;
};

static inline void bench_win_open(struct bench_win *w, MPI_Aint size, int created, int fill,
                                  int lock_all)
{
    w->mapped = 0;
    w->lock_all = lock_all;
    if (created) {
        w->mapped = (size_t)size + 1;
        w->mem = mmap(NULL, w->mapped, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (w->mem == MAP_FAILED)
            MPI_Abort(MPI_COMM_WORLD, 1);
        MPI_Win_create(w->mem, size, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &w->win);
    } else {
        MPI_Win_allocate(size, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &w->mem, &w->win);
    }
    if (size)
        memset(w->mem, fill, (size_t)size);
    MPI_Barrier(MPI_COMM_WORLD);
    if (lock_all)
        MPI_Win_lock_all(0, w->win);
}

static inline void bench_win_close(struct bench_win *w)
{
    if (w->lock_all)
        MPI_Win_unlock_all(w->win);
    MPI_Win_free(&w->win);
    if (w->mapped)
        munmap(w->mem, w->mapped);
}

#endif
