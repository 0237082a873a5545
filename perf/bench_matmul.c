/* Dense C = A B of n x n doubles (BENCH_N, default 512) with the kernel of
 * examples/matmul: every rank of the job computes its block rows of C in mdsm
 * memory, reading all of B, against one rank multiplying private copies
 * alone (the 1-rank baseline, same kernel, same run). Each repetition starts
 * cold: every rank rewrites its rows of B and a barrier drops the other
 * ranks' copies, so B crosses ranks in every multiply (with node sharing on
 * one node it is read in place). Timed: the multiply and the mdsm_barrier
 * that publishes C, on the slowest rank. A ratio below 1: the ranks together
 * are faster than one. Rank 0 checks C against the baseline's product.
 * Run: mpirun -n 2 bench_matmul, MDSM_NODE_SHARING=off, or across hosts
 * (BENCH_N=n, BENCH_REPS=R) */
#include <stdint.h>
#include <string.h>

#define BENCH_NAME "bench_matmul"
#include "bench.h"
#include "bench_mdsm.h"
#include "matmul_kernel.h"

typedef struct ctx {
    int rank, nranks;
    size_t n, lo, hi;
    double *a, *b, *c;      /* mdsm */
    double *pa, *pb, *want; /* rank 0's private copies and product */
} ctx_t;

static double run_mdsm(void *arg)
{
    ctx_t *x = arg;
    fill_rows(x->a, x->b, x->n, x->lo, x->hi); /* the same values: drops others' copies of B */
    bench_check(mdsm_barrier(), "mdsm_barrier");
    double t = MPI_Wtime();
    multiply_rows(x->c, x->a, x->b, x->n, x->lo, x->hi);
    bench_check(mdsm_barrier(), "mdsm_barrier");
    t = MPI_Wtime() - t;
    double slowest = 0.0;
    MPI_Allreduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return slowest;
}

static double run_one(void *arg)
{
    ctx_t *x = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (x->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    multiply_rows(x->want, x->pa, x->pb, x->n, 0, x->n);
    return MPI_Wtime() - t;
}

int main(int argc, char **argv)
{
    bench_start_pair(&argc, &argv);
    ctx_t x = {.rank = mdsm_rank(), .nranks = mdsm_nranks()};
    x.n = (size_t)bench_env_int("BENCH_N", 512);
    x.lo = (size_t)x.rank * x.n / (size_t)x.nranks;
    x.hi = (size_t)(x.rank + 1) * x.n / (size_t)x.nranks;
    size_t bytes = x.n * x.n * sizeof(double);
    x.a = bench_alloc(bytes);
    x.b = bench_alloc(bytes);
    x.c = bench_alloc(bytes);
    if (x.rank == 0) {
        x.pa = malloc(bytes);
        x.pb = malloc(bytes);
        x.want = malloc(bytes);
        if (!x.pa || !x.pb || !x.want)
            MPI_Abort(MPI_COMM_WORLD, 1);
        fill_rows(x.pa, x.pb, x.n, 0, x.n);
    }
    int reps = bench_reps(10), warmup = 2;
    double one = bench_median(run_one, &x, warmup, reps);
    double mdsm = bench_median(run_mdsm, &x, warmup, reps);
    int bad = 0;
    if (x.rank == 0) {
        bad = memcmp(x.c, x.want, bytes) != 0;
        char name[64];
        snprintf(name, sizeof(name), "%zu^2, %d ranks vs 1 rank", x.n, x.nranks);
        bench_header("matmul (block rows of C per rank, all of B read) vs one rank alone");
        bench_row(name, mdsm, one);
        printf("# median of %d repetitions, each from B freshly written by its homes\n", reps);
        if (bad)
            printf("# ERROR: C differs from the one-rank product\n");
        free(x.pa);
        free(x.pb);
        free(x.want);
    }
    MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
    bench_check(mdsm_free(x.c), "mdsm_free");
    bench_check(mdsm_free(x.b), "mdsm_free");
    bench_check(mdsm_free(x.a), "mdsm_free");
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return bad;
}
