/* Cost of a collective mdsm_alloc + mdsm_free against the MPI work it cannot
 * avoid (the agreements on size and outcome, and the barrier before memory is
 * given back: two Allreduces and a Barrier), for one page and for half the
 * space (BENCH_ALLOC_MIB, default 512 MiB). Per-page work at allocation shows
 * as the large allocation costing more than the small one; per-rank work
 * grows only with the pages homed on the rank (issue 12).
 * Run: mpirun -n 4 bench_alloc */
#include <stdlib.h>

#include "bench.h"
#include "mdsm.h"

static double run_mdsm(void *arg)
{
    size_t bytes = *(const size_t *)arg;
    double t = bench_start();
    void *p = mdsm_alloc(bytes);
    if (!p || mdsm_free(p) != MDSM_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    return MPI_Wtime() - t;
}

static double run_mpi(void *arg)
{
    (void)arg;
    double t = bench_start();
    long v[2] = {1, 2}, all[2];
    MPI_Allreduce(v, all, 2, MPI_LONG, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(v, all, 1, MPI_LONG, MPI_MIN, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    return MPI_Wtime() - t;
}

int main(int argc, char **argv)
{
    int provided, rank;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (mdsm_init(MPI_COMM_WORLD, NULL) != MDSM_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    int reps = bench_reps(30);
    size_t page = (size_t)mdsm_page_size();
    size_t large = (size_t)bench_env_int("BENCH_ALLOC_MIB", 512) << 20;
    double base = bench_median(run_mpi, NULL, 3, reps);
    double one = bench_median(run_mdsm, &page, 3, reps);
    double big = bench_median(run_mdsm, &large, 3, reps);
    if (rank == 0) {
        int n = 0;
        MPI_Comm_size(MPI_COMM_WORLD, &n);
        bench_header("mdsm_alloc + mdsm_free vs 2 MPI_Allreduce + MPI_Barrier");
        bench_row("one page", one, base);
        char name[64];
        snprintf(name, sizeof(name), "%zu MiB (%zu pages, %d ranks)", large >> 20, large / page, n);
        bench_row(name, big, base);
        printf("# %zu MiB against one page: %.2f\n", large >> 20, big / one);
    }
    if (mdsm_finalize() != MDSM_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Finalize();
    return 0;
}
