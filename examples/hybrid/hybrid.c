/* hybrid: the 2-D Jacobi heat solve of examples/jacobi, with an OpenMP team
 * inside every rank (MPI ranks x threads over mdsm global memory).
 *
 * Rows are split over the ranks in contiguous blocks as in jacobi, and each
 * rank's block again over its threads. The team stays up for the whole
 * solve: each iteration every thread sweeps its rows, the team meets at an
 * omp barrier, one thread calls mdsm_barrier (a rank's release publishes what
 * all its threads wrote before it; its acquire serves all of them after the
 * next omp barrier), and the grids are swapped. Halo rows of other ranks are
 * faulted in by whichever threads touch them first, several at once.
 *
 * Rank 0 then checks the result against the same iterations done
 * sequentially in private memory (its team compares the rows in parallel,
 * reading the other ranks' pages): the arithmetic is identical, so the grids
 * must match exactly.
 *
 * Usage: hybrid [-n N] [-i iterations] [-t threads] [-q]
 *   -t: threads per rank (default: OpenMP's, i.e. OMP_NUM_THREADS)
 *   -q: no statistics table
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "jacobi_kernel.h"

#define TOLERANCE 1e-12

typedef struct options {
    size_t n; /* grid is n x n, n >= 3 */
    long iters;
    int threads; /* per rank */
    int quiet;   /* leave out the statistics table */
} options_t;

/* Returns 0 on success, -1 on a bad command line. */
static int parse_options(int argc, char **argv, options_t *o)
{
    long n = 512, t = omp_get_max_threads();
    o->iters = 300;
    o->quiet = 0;
    int c;
    opterr = 0; /* every rank parses: rank 0 alone prints the usage */
    while ((c = getopt(argc, argv, "n:i:t:q")) != -1) {
        switch (c) {
        case 'n':
            if (ex_parse_long(optarg, 3, 1L << 20, &n))
                return -1;
            break;
        case 'i':
            if (ex_parse_long(optarg, 0, 1L << 30, &o->iters))
                return -1;
            break;
        case 't':
            if (ex_parse_long(optarg, 1, 1024, &t))
                return -1;
            break;
        case 'q': o->quiet = 1; break;
        default: return -1;
        }
    }
    o->n = (size_t)n;
    o->threads = (int)t;
    return optind == argc ? 0 : -1;
}

/* Thread t of nt's share of rows [lo, hi). */
static void thread_rows(size_t lo, size_t hi, int t, int nt, size_t *tlo, size_t *thi)
{
    *tlo = lo + (hi - lo) * (size_t)t / (size_t)nt;
    *thi = lo + (hi - lo) * (size_t)(t + 1) / (size_t)nt;
}

/* Initial state of rows [lo, hi), as in jacobi. Both grids get it. */
static void init_rows(double *a, double *b, size_t n, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < n; j++)
            a[i * n + j] = b[i * n + j] = jacobi_initial_value(i, j, n);
}

/* Initialises and solves this rank's rows [lo, hi) with its team; *cur ends
 * up holding the result. Returns this rank's wall time for the iterations. */
static double solve(double **cur, double **next, const options_t *o, size_t lo, size_t hi)
{
    double t0 = 0.0, t1 = 0.0;
    double *a = *cur, *b = *next;
#pragma omp parallel num_threads(o->threads) firstprivate(a, b)
    {
        size_t tlo, thi;
        thread_rows(lo, hi, omp_get_thread_num(), omp_get_num_threads(), &tlo, &thi);
        init_rows(a, b, o->n, tlo, thi); /* each thread first-touches its rows */
#pragma omp barrier
#pragma omp master
        {
            ex_check(mdsm_barrier(), "mdsm_barrier");
            ex_check(mdsm_stats_reset(), "mdsm_stats_reset");
            t0 = MPI_Wtime();
        }
#pragma omp barrier
        for (long it = 0; it < o->iters; it++) {
            jacobi_sweep(b, a, o->n, tlo, thi, 0);
#pragma omp barrier
#pragma omp master
            ex_check(mdsm_barrier(), "mdsm_barrier");
#pragma omp barrier
            double *tmp = a; /* every thread swaps its own copies alike */
            a = b;
            b = tmp;
        }
#pragma omp master
        {
            t1 = MPI_Wtime();
            *cur = a;
            *next = b;
        }
    }
    return t1 - t0;
}

/* The same iterations on one thread in private memory. Caller frees. */
static double *reference(const options_t *o)
{
    size_t n = o->n;
    double *a = ex_private(n * n * sizeof(double)), *b = ex_private(n * n * sizeof(double));
    init_rows(a, b, n, 0, n);
    for (long it = 0; it < o->iters; it++) {
        jacobi_sweep(b, a, n, 0, n, 0);
        double *tmp = a;
        a = b;
        b = tmp;
    }
    free(b);
    return a;
}

static double checksum(const double *g, size_t n)
{
    double s = 0.0;
    for (size_t k = 0; k < n * n; k++)
        s += g[k];
    return s;
}

/* Rank 0: compares the mdsm result with the reference, rows split over its
 * team; returns 1 if they match. */
static int verify(const double *got, const options_t *o)
{
    size_t n = o->n;
    double *want = reference(o);
    double worst = 0.0;
    long nans = 0;
#pragma omp parallel for num_threads(o->threads) reduction(max : worst) reduction(+ : nans)
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double d = fabs(got[i * n + j] - want[i * n + j]);
            if (isnan(d)) /* a NaN must fail, not compare false */
                nans++;
            else if (d > worst)
                worst = d;
        }
    int ok = worst <= TOLERANCE && nans == 0;
    printf("hybrid: checksum %.15e (sequential reference %.15e)\n", checksum(got, n),
           checksum(want, n));
    if (ok) {
        printf("hybrid: verified (max abs difference %.3g)\n", worst);
    } else {
        size_t at = 0;
        for (size_t k = 0; k < n * n; k++) {
            double d = fabs(got[k] - want[k]);
            if (isnan(d) || d > TOLERANCE) {
                at = k;
                break;
            }
        }
        printf("hybrid: FAILED: max abs difference %.3g (%ld NaN), first wrong at row %zu column "
               "%zu: got %.17g, want %.17g\n",
               worst, nans, at / n, at % n, got[at], want[at]);
    }
    free(want);
    return ok;
}

/* Allocates the grids, solves, reports; returns the verdict that rank 0
 * reached, the same on every rank. */
static int run(const options_t *o)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    size_t n = o->n;
    size_t lo = (size_t)rank * n / (size_t)nranks, hi = (size_t)(rank + 1) * n / (size_t)nranks;
    double *cur = ex_alloc(n * n * sizeof(double)), *next = ex_alloc(n * n * sizeof(double));
    double *first = cur, *second = next; /* as allocated, for mdsm_free */

    double slowest = ex_max_over_ranks(solve(&cur, &next, o, lo, hi));
    mdsm_stats_t stats;
    ex_check(mdsm_stats_get(&stats), "mdsm_stats_get");

    int ok = 1;
    if (rank == 0) {
        printf("hybrid: %zu x %zu grid, %ld iterations, %d ranks x %d threads\n", n, n, o->iters,
               nranks, o->threads);
        printf("hybrid: solve %.3f s (slowest rank), %.3f ms per iteration\n", slowest,
               o->iters ? slowest * 1e3 / (double)o->iters : 0.0);
        ok = verify(cur, o);
    }
    ok = ex_verdict(ok, &stats, "the solve (iterations only)", o->quiet);
    ex_check(mdsm_free(first), "mdsm_free");
    ex_check(mdsm_free(second), "mdsm_free");
    return ok;
}

int main(int argc, char **argv)
{
    if (ex_init("hybrid") != 0) /* MPI_THREAD_MULTIPLE: every thread may fault */
        return 1;
    omp_set_dynamic(0); /* teams of exactly -t threads */
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return ex_usage("hybrid [-n N (>= 3)] [-i iterations (>= 0)] [-t threads (1..1024)] "
                        "[-q]\n");
    return ex_finalize(run(&o));
}
