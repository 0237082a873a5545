/* Ranks x threads: the Jacobi step of examples/jacobi with an OpenMP team of
 * BENCH_THREADS threads in each of the R ranks, once on mdsm global memory
 * (block rows per rank, split again over its threads; one omp barrier, one
 * mdsm_barrier from one thread, one omp barrier per iteration) and once as
 * hand-written MPI+OpenMP with private rows, the halos exchanged by
 * MPI_Sendrecv from one thread between omp barriers, on the same ranks x
 * threads. Both start from the same grid; their results must agree exactly.
 *
 * The figure to compare across runs is mdsm's time per iteration for the
 * same R x T product, e.g. 1 rank x 2 threads against 2 ranks x 1 thread:
 *   BENCH_THREADS=2 mpirun --bind-to none -n 1 bench_hybrid
 *   BENCH_THREADS=1 mpirun --bind-to none -n 2 bench_hybrid
 * Sizes: BENCH_N (grid side, 2048), BENCH_ITERS (50), BENCH_REPS (repetitions
 * of each solve, the median reported; 1). mdsm binds every rank to its share
 * of the node's cores (MDSM_BIND=auto): with R x T above the cores, threads
 * share them, in both solves alike. */
#include <omp.h>
#include <string.h>

#define BENCH_NAME "bench_hybrid"
#include "bench.h"
#include "bench_mdsm.h"
#include "jacobi_kernel.h"

typedef struct ctx {
    size_t n, lo, hi; /* this rank's rows [lo, hi) */
    long iters;
    int threads, rank, size;
    double *out; /* this rank's rows of the result, from the last repetition */
} ctx_t;

/* Thread t of nt's share of rows [lo, hi). */
static void thread_rows(size_t lo, size_t hi, int t, int nt, size_t *tlo, size_t *thi)
{
    *tlo = lo + (hi - lo) * (size_t)t / (size_t)nt;
    *thi = lo + (hi - lo) * (size_t)(t + 1) / (size_t)nt;
}

/* mdsm: both grids global, each thread initialises and sweeps its rows. */
static double run_mdsm(void *arg)
{
    ctx_t *c = arg;
    size_t n = c->n;
    double *a0 = bench_alloc(n * n * sizeof(double)), *b0 = bench_alloc(n * n * sizeof(double));
    double t0 = 0, t1 = 0, *result = NULL;
#pragma omp parallel num_threads(c->threads)
    {
        double *a = a0, *b = b0;
        size_t tlo, thi;
        thread_rows(c->lo, c->hi, omp_get_thread_num(), omp_get_num_threads(), &tlo, &thi);
        for (size_t i = tlo; i < thi; i++)
            for (size_t j = 0; j < n; j++)
                a[i * n + j] = b[i * n + j] = jacobi_initial_value(i, j, n);
#pragma omp barrier
#pragma omp master
        {
            bench_check(mdsm_barrier(), "mdsm_barrier");
            t0 = MPI_Wtime();
        }
#pragma omp barrier
        for (long it = 0; it < c->iters; it++) {
            jacobi_sweep(b, a, n, tlo, thi, 0);
#pragma omp barrier
#pragma omp master
            bench_check(mdsm_barrier(), "mdsm_barrier");
#pragma omp barrier
            double *tmp = a;
            a = b;
            b = tmp;
        }
#pragma omp master
        {
            t1 = MPI_Wtime();
            result = a;
        }
    }
    memcpy(c->out, result + c->lo * n, (c->hi - c->lo) * n * sizeof(double));
    bench_check(mdsm_free(b0), "mdsm_free");
    bench_check(mdsm_free(a0), "mdsm_free");
    return t1 - t0;
}

/* MPI+OpenMP: rows [lo-1, hi+1) privately; the master thread exchanges the
 * halos while the others wait at the omp barrier, then all sweep. */
static double run_baseline(void *arg)
{
    ctx_t *c = arg;
    size_t n = c->n, lo = c->lo, hi = c->hi, rows = hi - lo + 2; /* local k: global lo - 1 + k */
    double *a0 = malloc(rows * n * sizeof(double)), *b0 = malloc(rows * n * sizeof(double));
    if (!a0 || !b0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    memset(a0, 0, n * sizeof(double)); /* halo rows a neighbour never sends */
    memset(a0 + (rows - 1) * n, 0, n * sizeof(double));
    memcpy(b0, a0, n * sizeof(double));
    memcpy(b0 + (rows - 1) * n, a0 + (rows - 1) * n, n * sizeof(double));
    int up = c->rank > 0 ? c->rank - 1 : MPI_PROC_NULL;
    int down = c->rank < c->size - 1 ? c->rank + 1 : MPI_PROC_NULL;
    double t0 = 0, t1 = 0, *result = NULL;
#pragma omp parallel num_threads(c->threads)
    {
        double *a = a0, *b = b0;
        size_t tlo, thi;
        thread_rows(lo, hi, omp_get_thread_num(), omp_get_num_threads(), &tlo, &thi);
        for (size_t i = tlo; i < thi; i++) /* first touch by the thread that sweeps the row */
            for (size_t j = 0; j < n; j++)
                a[(i + 1 - lo) * n + j] = b[(i + 1 - lo) * n + j] = jacobi_initial_value(i, j, n);
#pragma omp barrier
#pragma omp master
        {
            MPI_Barrier(MPI_COMM_WORLD);
            t0 = MPI_Wtime();
        }
        for (long it = 0; it < c->iters; it++) {
#pragma omp master
            {
                MPI_Sendrecv(a + n, (int)n, MPI_DOUBLE, up, 0, a + (rows - 1) * n, (int)n,
                             MPI_DOUBLE, down, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Sendrecv(a + (rows - 2) * n, (int)n, MPI_DOUBLE, down, 1, a, (int)n, MPI_DOUBLE,
                             up, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
#pragma omp barrier
            jacobi_sweep(b + n, a + n, n, tlo, thi, lo);
#pragma omp barrier
            double *tmp = a;
            a = b;
            b = tmp;
        }
#pragma omp master
        {
            t1 = MPI_Wtime();
            result = a;
        }
    }
    memcpy(c->out, result + n, (hi - lo) * n * sizeof(double));
    free(a0);
    free(b0);
    return t1 - t0;
}

/* Collective: the slowest rank's median, on every rank. */
static double slowest(double mine)
{
    double max = mine;
    MPI_Allreduce(&mine, &max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return max;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    if (provided < MPI_THREAD_MULTIPLE) {
        fprintf(stderr, BENCH_NAME ": MPI does not provide MPI_THREAD_MULTIPLE\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    bench_check(mdsm_init(MPI_COMM_WORLD, NULL), "mdsm_init");
    omp_set_dynamic(0);
    ctx_t c = {.rank = mdsm_rank(), .size = mdsm_nranks()};
    c.n = (size_t)bench_env_int("BENCH_N", 2048);
    c.iters = bench_env_int("BENCH_ITERS", 50);
    c.threads = bench_env_int("BENCH_THREADS", 1);
    int reps = bench_reps(1);
    if (c.n < 3 || c.n < (size_t)c.size) {
        if (c.rank == 0)
            fprintf(stderr, "usage: BENCH_N (>= 3 and >= ranks) BENCH_ITERS BENCH_THREADS "
                            "BENCH_REPS bench_hybrid\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t per = (c.n + (size_t)c.size - 1) / (size_t)c.size;
    c.lo = per * (size_t)c.rank < c.n ? per * (size_t)c.rank : c.n;
    c.hi = c.lo + per < c.n ? c.lo + per : c.n;
    double *got_mdsm = malloc(per * c.n * sizeof(double) + 1);
    double *got_mpi = malloc(per * c.n * sizeof(double) + 1);
    c.out = got_mpi;
    double t_mpi = slowest(bench_median(run_baseline, &c, 0, reps));
    c.out = got_mdsm;
    double t_mdsm = slowest(bench_median(run_mdsm, &c, 0, reps));
    int same = memcmp(got_mdsm, got_mpi, (c.hi - c.lo) * c.n * sizeof(double)) == 0, all_same = 0;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (c.rank == 0) {
        char title[160];
        snprintf(title, sizeof(title),
                 "Jacobi %zu x %zu, %ld iterations, %d ranks x %d threads (%d workers), per "
                 "iteration",
                 c.n, c.n, c.iters, c.size, c.threads, c.size * c.threads);
        bench_header(title);
        bench_row("mdsm vs MPI+OpenMP halo exchange", t_mdsm / (double)c.iters,
                  t_mpi / (double)c.iters);
        printf("# results %s\n", all_same ? "identical" : "DIFFER: mdsm and MPI disagree");
    }
    free(got_mdsm);
    free(got_mpi);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return all_same ? 0 : 1;
}
