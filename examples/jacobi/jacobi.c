/* jacobi: 2-D Jacobi heat solve on an N x N grid held in mdsm memory.
 *
 * Two grids are allocated with mdsm_alloc and swapped every iteration. The
 * top edge is held at 1.0 and the other edges at 0.0; the interior starts
 * from a fixed pseudo-random field. Rows are split over
 * the ranks in contiguous blocks, so with the default block distribution a
 * rank mostly writes pages it homes itself and only the two halo rows beside
 * its block come from other ranks. One mdsm_barrier per iteration makes the
 * new grid visible everywhere before it is read.
 *
 * Rank 0 then checks the result against the same iterations done
 * sequentially in private memory: the arithmetic is identical, so the grids
 * must match exactly.
 *
 * Usage: jacobi [-n N] [-i iterations] [-q]     (-q: no statistics table)
 */
#include <math.h>
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
    int quiet; /* leave out the statistics table */
} options_t;

/* Returns 0 on success, -1 on a bad command line. */
static int parse_options(int argc, char **argv, options_t *o)
{
    long n = 512;
    o->iters = 300;
    o->quiet = 0;
    int c;
    opterr = 0; /* every rank parses: rank 0 alone prints the usage */
    while ((c = getopt(argc, argv, "n:i:q")) != -1) {
        switch (c) {
        case 'n':
            if (ex_parse_long(optarg, 3, 1L << 20, &n))
                return -1;
            break;
        case 'i':
            if (ex_parse_long(optarg, 0, 1L << 30, &o->iters))
                return -1;
            break;
        case 'q': o->quiet = 1; break;
        default: return -1;
        }
    }
    o->n = (size_t)n;
    return optind == argc ? 0 : -1;
}

/* Initial state of rows [lo, hi): top edge hot, other edges cold, interior
 * a fixed pseudo-random field. The field makes every cell change in every
 * iteration, so a stale or lost page anywhere shows in the check (from a cold
 * interior, heat would not reach most ranks' rows within the iterations).
 * Both grids get it, so the fixed boundary is right whichever is current. */
static void init_rows(double *g, size_t n, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < n; j++)
            g[i * n + j] = jacobi_initial_value(i, j, n);
}

/* Runs the iterations on this rank's rows [lo, hi); *cur ends up holding the
 * result. Returns this rank's wall time for the iterations. */
static double solve(double **cur, double **next, const options_t *o, size_t lo, size_t hi)
{
    double t = MPI_Wtime();
    for (long it = 0; it < o->iters; it++) {
        jacobi_sweep(*next, *cur, o->n, lo, hi, 0);
        ex_check(mdsm_barrier(), "mdsm_barrier");
        double *tmp = *cur;
        *cur = *next;
        *next = tmp;
    }
    return MPI_Wtime() - t;
}

/* The same iterations on one rank in private memory. Caller frees. */
static double *reference(const options_t *o)
{
    size_t n = o->n;
    double *a = ex_private(n * n * sizeof(double)), *b = ex_private(n * n * sizeof(double));
    init_rows(a, n, 0, n);
    init_rows(b, n, 0, n);
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

/* Rank 0: compares the mdsm result with the reference; returns 1 if they match. */
static int verify(const double *got, const options_t *o)
{
    double *want = reference(o);
    double worst = 0.0;
    size_t at = 0;
    for (size_t k = 0; k < o->n * o->n; k++) {
        double d = fabs(got[k] - want[k]);
        if (d > worst || isnan(d)) { /* a NaN must fail, not compare false */
            worst = d;
            at = k;
        }
    }
    int ok = worst <= TOLERANCE;
    printf("jacobi: checksum %.15e (sequential reference %.15e)\n", checksum(got, o->n),
           checksum(want, o->n));
    if (ok)
        printf("jacobi: verified (max abs difference %.3g)\n", worst);
    else
        printf("jacobi: FAILED: max abs difference %.3g at row %zu column %zu: "
               "got %.17g, want %.17g\n",
               worst, at / o->n, at % o->n, got[at], want[at]);
    free(want);
    return ok;
}

/* Allocates and initialises the grids, solves, reports; returns the verdict
 * that rank 0 reached, the same on every rank. */
static int run(const options_t *o)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    size_t n = o->n;
    size_t lo = (size_t)rank * n / (size_t)nranks, hi = (size_t)(rank + 1) * n / (size_t)nranks;
    double *cur = ex_alloc(n * n * sizeof(double)), *next = ex_alloc(n * n * sizeof(double));
    init_rows(cur, n, lo, hi);
    init_rows(next, n, lo, hi);
    ex_check(mdsm_barrier(), "mdsm_barrier");

    ex_check(mdsm_stats_reset(), "mdsm_stats_reset");
    double slowest = ex_max_over_ranks(solve(&cur, &next, o, lo, hi));
    mdsm_stats_t stats;
    ex_check(mdsm_stats_get(&stats), "mdsm_stats_get");

    int ok = 1;
    if (rank == 0) {
        printf("jacobi: %zu x %zu grid, %ld iterations, %d ranks\n", n, n, o->iters, nranks);
        printf("jacobi: solve %.3f s (slowest rank), %.3f ms per iteration\n", slowest,
               o->iters ? slowest * 1e3 / (double)o->iters : 0.0);
        ok = verify(cur, o);
    }
    ok = ex_verdict(ok, &stats, "the solve (iterations only)", o->quiet);
    ex_check(mdsm_free(cur), "mdsm_free");
    ex_check(mdsm_free(next), "mdsm_free");
    return ok;
}

int main(int argc, char **argv)
{
    if (ex_init("jacobi") != 0)
        return 1;
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return ex_usage("jacobi [-n N (>= 3)] [-i iterations (>= 0)] [-q]\n");
    return ex_finalize(run(&o));
}
