/* Shared benchmark harness: repetitions, medians and the result table.
 * Every benchmark reports its figure beside a baseline measured in the same
 * run, because these machines are noisy; the ratio is what to compare. */
#ifndef MDSM_PERF_BENCH_H
#define MDSM_PERF_BENCH_H

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

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

static inline void bench_header(const char *title)
{
    printf("# %s\n# %-34s %14s %14s %8s\n", title, "case", "mdsm (us)", "baseline (us)", "ratio");
}

static inline void bench_row(const char *name, double mdsm_s, double base_s)
{
    printf("  %-34s %14.2f %14.2f %8.2f\n", name, mdsm_s * 1e6, base_s * 1e6, mdsm_s / base_s);
}

#endif
