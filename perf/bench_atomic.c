/* mdsm_fetch_add on a counter homed on rank 1, against MPI_Fetch_and_op
 * (MPI_SUM) + MPI_Win_flush on a window of the same run, both from rank 0
 * while the other ranks wait in a barrier. Where every rank uses every home
 * page in place (one node, node sharing on), mdsm uses the CPU's atomic; with
 * MDSM_NODE_SHARING=off it is an MPI atomic at the home plus a write notice.
 * Time per operation; every result is checked (BENCH_REPS=R repetitions of
 * BENCH_OPS=N operations). */
#include <stdint.h>

#define BENCH_NAME "bench_atomic"
#include "bench.h"
#include "bench_mdsm.h"

#define HOME 1

typedef struct ctx {
    int rank, ops;
    int64_t *counter; /* mdsm */
    MPI_Win win;
    int64_t expect; /* the value both counters hold before a repetition */
    int bad;
} ctx_t;

static double run_mdsm(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    for (int i = 0; i < c->ops; i++) {
        int64_t old = 0;
        bench_check(mdsm_fetch_add(c->counter, 1, &old), "mdsm_fetch_add");
        c->bad += old != c->expect + i;
    }
    return (MPI_Wtime() - t) / c->ops;
}

static double run_mpi(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    const int64_t one = 1;
    double t = MPI_Wtime();
    for (int i = 0; i < c->ops; i++) {
        int64_t old = 0;
        MPI_Fetch_and_op(&one, &old, MPI_INT64_T, HOME, 0, MPI_SUM, c->win);
        MPI_Win_flush(HOME, c->win);
        c->bad += old != c->expect + i;
    }
    return (MPI_Wtime() - t) / c->ops;
}

/* Counts the repetition's operations, so that the next one checks from there. */
static double run_and_count(bench_fn fn, ctx_t *c, int64_t *expect)
{
    c->expect = *expect;
    double s = fn(c);
    *expect += c->ops;
    return s;
}

static double mdsm_rep(void *arg)
{
    static int64_t done;
    return run_and_count(run_mdsm, arg, &done);
}

static double mpi_rep(void *arg)
{
    static int64_t done;
    return run_and_count(run_mpi, arg, &done);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    bench_check(mdsm_init(MPI_COMM_WORLD, NULL), "mdsm_init");
    ctx_t c = {.rank = mdsm_rank(), .ops = bench_env_int("BENCH_OPS", 2000)};
    if (mdsm_nranks() < 2) {
        if (c.rank == 0)
            fprintf(stderr, BENCH_NAME ": needs at least 2 ranks\n");
        mdsm_finalize();
        return 1;
    }
    char *base = NULL;
    char **pages = bench_pages_homed_on(HOME, 1, mdsm_page_size(), &base);
    c.counter = (int64_t *)pages[0];
    int64_t *mem = NULL;
    MPI_Win_allocate(c.rank == HOME ? (MPI_Aint)sizeof(int64_t) : 0, sizeof(int64_t), MPI_INFO_NULL,
                     MPI_COMM_WORLD, &mem, &c.win);
    if (c.rank == HOME)
        *mem = 0;
    MPI_Win_lock_all(0, c.win);
    MPI_Barrier(MPI_COMM_WORLD);

    int reps = bench_reps(9);
    double m = bench_median(mdsm_rep, &c, 1, reps);
    double b = bench_median(mpi_rep, &c, 1, reps);
    int bad = 0;
    MPI_Reduce(&c.bad, &bad, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    if (c.rank == 0) {
        bench_header("mdsm_fetch_add vs MPI_Fetch_and_op + MPI_Win_flush, rank 0 -> home rank 1");
        bench_row("fetch_add (per operation)", m, b);
        if (bad)
            printf("  WRONG: %d results differ from the count\n", bad);
    }
    MPI_Win_unlock_all(c.win);
    MPI_Win_free(&c.win);
    bench_check(mdsm_barrier(), "mdsm_barrier");
    bench_check(mdsm_free(base), "mdsm_free");
    free(pages);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    return bad ? 1 : 0;
}
