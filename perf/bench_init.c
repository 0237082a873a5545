/* Cost of mdsm_init + mdsm_finalize against the MPI work it cannot avoid
 * (MPI_Comm_dup, an agreement and a barrier). Run: mpirun -n 4 bench_init */
#include "bench.h"
#include "mdsm.h"

static double run_mdsm(void *arg)
{
    (void)arg;
    double t = bench_start();
    if (mdsm_init(MPI_COMM_WORLD, NULL) != MDSM_OK || mdsm_finalize() != MDSM_OK)
        MPI_Abort(MPI_COMM_WORLD, 1);
    return MPI_Wtime() - t;
}

static double run_mpi(void *arg)
{
    (void)arg;
    double t = bench_start();
    MPI_Comm dup;
    int one = 1, all;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Allreduce(&one, &all, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Barrier(dup);
    MPI_Comm_free(&dup);
    return MPI_Wtime() - t;
}

int main(int argc, char **argv)
{
    int provided, rank;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int reps = bench_reps(50);
    double base = bench_median(run_mpi, NULL, 3, reps);
    double mdsm = bench_median(run_mdsm, NULL, 3, reps);
    if (rank == 0) {
        bench_header("mdsm_init + mdsm_finalize vs MPI_Comm_dup + Allreduce + Barrier");
        bench_row("init+finalize", mdsm, base);
    }
    MPI_Finalize();
    return 0;
}
