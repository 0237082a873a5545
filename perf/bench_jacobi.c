/* A whole application kernel against hand-written MPI: the 2-D Jacobi step of
 * examples/jacobi, once on mdsm global memory (block rows, one barrier per
 * iteration) and once as an MPI code with private rows and halo exchange by
 * MPI_Sendrecv. Both start from the same grid; their results must agree
 * exactly. Run: mpirun -n 4 bench_jacobi [N] [iterations] */
#include <string.h>

#define BENCH_NAME "bench_jacobi"
#include "bench.h"
#include "bench_mdsm.h"
#include "jacobi_kernel.h"

/* mdsm: both grids global; returns seconds and this rank's rows in out. */
static double run_mdsm(size_t n, long iters, size_t lo, size_t hi, double *out)
{
    double *a = bench_alloc(n * n * sizeof(double)), *b = bench_alloc(n * n * sizeof(double));
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < n; j++)
            a[i * n + j] = b[i * n + j] = jacobi_initial_value(i, j, n);
    bench_check(mdsm_barrier(), "mdsm_barrier");
    double t = MPI_Wtime();
    for (long it = 0; it < iters; it++) {
        jacobi_sweep(b, a, n, lo, hi, 0);
        bench_check(mdsm_barrier(), "mdsm_barrier");
        double *tmp = a;
        a = b;
        b = tmp;
    }
    t = MPI_Wtime() - t;
    memcpy(out, a + lo * n, (hi - lo) * n * sizeof(double));
    bench_check(mdsm_free(b), "mdsm_free");
    bench_check(mdsm_free(a), "mdsm_free");
    return t;
}

/* MPI: rows [lo-1, hi+1) privately, halos exchanged with the neighbours. */
static double run_mpi(size_t n, long iters, size_t lo, size_t hi, double *out)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t rows = hi - lo + 2; /* local row k is global row lo - 1 + k */
    double *a = calloc(rows * n, sizeof(double)), *b = calloc(rows * n, sizeof(double));
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < n; j++)
            a[(i + 1 - lo) * n + j] = b[(i + 1 - lo) * n + j] = jacobi_initial_value(i, j, n);
    int up = rank > 0 ? rank - 1 : MPI_PROC_NULL, down = rank < size - 1 ? rank + 1 : MPI_PROC_NULL;
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (long it = 0; it < iters; it++) {
        MPI_Sendrecv(a + n, (int)n, MPI_DOUBLE, up, 0, a + (rows - 1) * n, (int)n, MPI_DOUBLE, down,
                     0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Sendrecv(a + (rows - 2) * n, (int)n, MPI_DOUBLE, down, 1, a, (int)n, MPI_DOUBLE, up, 1,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        jacobi_sweep(b + n, a + n, n, lo, hi, lo);
        double *tmp = a;
        a = b;
        b = tmp;
    }
    t = MPI_Wtime() - t;
    memcpy(out, a + n, (hi - lo) * n * sizeof(double));
    free(a);
    free(b);
    return t;
}

int main(int argc, char **argv)
{
    int provided, rank, size;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    bench_check(mdsm_init(MPI_COMM_WORLD, NULL), "mdsm_init");
    rank = mdsm_rank();
    size = mdsm_nranks();
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 512;
    long iters = argc > 2 ? atol(argv[2]) : 200;
    if (n < 3 || iters < 1 || n / (size_t)size < 1) {
        if (rank == 0)
            fprintf(stderr, "usage: bench_jacobi [N >= 3 and >= ranks] [iterations >= 1]\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    size_t per = (n + (size_t)size - 1) / (size_t)size;
    size_t lo = per * (size_t)rank < n ? per * (size_t)rank : n;
    size_t hi = lo + per < n ? lo + per : n;
    double *got_mdsm = malloc(per * n * sizeof(double) + 1);
    double *got_mpi = malloc(per * n * sizeof(double) + 1);
    double t_mpi = run_mpi(n, iters, lo, hi, got_mpi);
    double t_mdsm = run_mdsm(n, iters, lo, hi, got_mdsm);
    int same = memcmp(got_mdsm, got_mpi, (hi - lo) * n * sizeof(double)) == 0, all_same = 0;
    double slow[2] = {t_mdsm, t_mpi}, slowest[2];
    MPI_Reduce(slow, slowest, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) {
        char title[128];
        snprintf(title, sizeof(title), "Jacobi %zu x %zu, %ld iterations, %d ranks, per iteration",
                 n, n, iters, size);
        bench_header(title);
        bench_row("mdsm vs MPI halo exchange", slowest[0] / iters, slowest[1] / iters);
        printf("# results %s\n", all_same ? "identical" : "DIFFER: mdsm and MPI disagree");
    }
    free(got_mdsm);
    free(got_mpi);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return all_same ? 0 : 1;
}
