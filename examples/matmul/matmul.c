/* matmul: dense matrix multiply C = A * B of N x N doubles in mdsm memory.
 *
 * Rows are split over the ranks in contiguous blocks. Each rank writes its
 * block rows of A and B (with the default block distribution those pages are
 * mostly homed by the writer), and after a barrier computes its block rows of
 * C: it reads its own rows of A and every row of B, so B is read by all ranks
 * at once (shared reads: every rank fetches the pages it does not home and
 * keeps them cached read-only). A second barrier publishes C.
 *
 * The entries of A and B are small integers, so every product and partial
 * sum is an integer well below 2^53 and exact in double: rank 0 compares C
 * with a sequential product element by element for equality.
 *
 * Usage: matmul [-n N] [-q]     (-q: no statistics table)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"
#include "matmul_kernel.h"

typedef struct options {
    size_t n;
    int quiet;
} options_t;

/* Returns 0 on success, -1 on a bad command line. */
static int parse_options(int argc, char **argv, options_t *o)
{
    long n = 512;
    o->quiet = 0;
    int c;
    opterr = 0; /* every rank parses: rank 0 alone prints the usage */
    while ((c = getopt(argc, argv, "n:q")) != -1) {
        switch (c) {
        case 'n':
            if (ex_parse_long(optarg, 1, 1L << 16, &n))
                return -1;
            break;
        case 'q': o->quiet = 1; break;
        default: return -1;
        }
    }
    o->n = (size_t)n;
    return optind == argc ? 0 : -1;
}

/* Rank 0: compares c with the sequential product; returns 1 if equal. */
static int verify(const double *c, size_t n)
{
    double *a = ex_private(n * n * sizeof(double)), *b = ex_private(n * n * sizeof(double)),
           *want = ex_private(n * n * sizeof(double));
    fill_rows(a, b, n, 0, n);
    multiply_rows(want, a, b, n, 0, n);
    size_t wrong = 0, first = 0;
    double sum_got = 0.0, sum_want = 0.0;
    for (size_t k = 0; k < n * n; k++) {
        sum_got += c[k];
        sum_want += want[k];
        if (c[k] != want[k] && wrong++ == 0) /* a NaN is unequal too */
            first = k;
    }
    printf("matmul: checksum %.17g (sequential reference %.17g)\n", sum_got, sum_want);
    if (wrong == 0)
        printf("matmul: verified (all %zu elements equal the sequential product)\n", n * n);
    else
        printf("matmul: FAILED: %zu elements differ; first at row %zu column %zu: got %.17g, "
               "want %.17g\n",
               wrong, first / n, first % n, c[first], want[first]);
    free(a);
    free(b);
    free(want);
    return wrong == 0;
}

static int run(const options_t *o)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    size_t n = o->n;
    size_t lo = (size_t)rank * n / (size_t)nranks, hi = (size_t)(rank + 1) * n / (size_t)nranks;
    double *a = ex_alloc(n * n * sizeof(double)), *b = ex_alloc(n * n * sizeof(double));
    double *c = ex_alloc(n * n * sizeof(double));
    fill_rows(a, b, n, lo, hi);
    ex_check(mdsm_barrier(), "mdsm_barrier");

    ex_check(mdsm_stats_reset(), "mdsm_stats_reset");
    double t = MPI_Wtime();
    multiply_rows(c, a, b, n, lo, hi);
    ex_check(mdsm_barrier(), "mdsm_barrier");
    double slowest = ex_max_over_ranks(MPI_Wtime() - t);
    mdsm_stats_t stats;
    ex_check(mdsm_stats_get(&stats), "mdsm_stats_get");

    int ok = 1;
    if (rank == 0) {
        printf("matmul: %zu x %zu matrices, %d ranks, block rows of C per rank\n", n, n, nranks);
        printf("matmul: multiply %.3f s (slowest rank), %.2f GFLOP/s\n", slowest,
               slowest > 0 ? 2.0 * (double)n * (double)n * (double)n / slowest * 1e-9 : 0.0);
        ok = verify(c, n);
    }
    ok = ex_verdict(ok, &stats, "the multiply (fill excluded)", o->quiet);
    ex_check(mdsm_free(c), "mdsm_free");
    ex_check(mdsm_free(b), "mdsm_free");
    ex_check(mdsm_free(a), "mdsm_free");
    return ok;
}

int main(int argc, char **argv)
{
    if (ex_init("matmul") != 0)
        return 1;
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return ex_usage("matmul [-n N (1..65536)] [-q]\n");
    return ex_finalize(run(&o));
}
