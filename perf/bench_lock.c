/* Lock pairs (acquire + release) against MPI_Win_lock(MPI_LOCK_EXCLUSIVE) +
 * MPI_Win_unlock on a window of the same run (MPI_Win_allocate's; the counter
 * also on MPI_Win_create's, the kind mdsm's home pages are), in two cases:
 *  - alone: rank 0 takes and releases a lock homed on rank 1, the other ranks
 *    wait in a barrier (the MPI pair: an exclusive epoch on rank 1);
 *  - counter: every rank adds 1 to one shared counter under the lock, so the
 *    lock goes from rank to rank (the MPI pair also gets and puts the counter,
 *    as hand-written MPI code must). Time per increment, all ranks together.
 * Across hosts: scripts/mpirun-hosts.sh -n 2 --hosts 2 build/perf/bench_lock
 * (BENCH_REPS=R repetitions of BENCH_OPS=N pairs per rank). */
#include <stdint.h>
#include <string.h>

#define BENCH_NAME "bench_lock"
#include "bench.h"
#include "bench_mdsm.h"

#define HOME 1 /* rank that homes the lock, the window and the counter */

typedef struct ctx {
    int rank, nranks, ops, lock;
    volatile int64_t *counter; /* mdsm */
    MPI_Win win;               /* the baseline's window now: one of the two below */
    struct bench_win alloc, created;
    int64_t expect; /* increments so far, all ranks */
    int bad;
} ctx_t;

static double run_alone_mdsm(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    for (int i = 0; i < c->ops; i++) {
        bench_check(mdsm_lock(c->lock), "mdsm_lock");
        bench_check(mdsm_unlock(c->lock), "mdsm_unlock");
    }
    return (MPI_Wtime() - t) / c->ops;
}

static double run_alone_mpi(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    for (int i = 0; i < c->ops; i++) {
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, HOME, 0, c->win);
        MPI_Win_unlock(HOME, c->win);
    }
    return (MPI_Wtime() - t) / c->ops;
}

static double run_counter_mdsm(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int i = 0; i < c->ops; i++) {
        bench_check(mdsm_lock(c->lock), "mdsm_lock");
        *c->counter += 1;
        bench_check(mdsm_unlock(c->lock), "mdsm_unlock");
    }
    MPI_Barrier(MPI_COMM_WORLD);
    t = MPI_Wtime() - t;
    c->expect += (int64_t)c->ops * c->nranks;
    bench_check(mdsm_lock(c->lock), "mdsm_lock");
    c->bad |= *c->counter != c->expect;
    bench_check(mdsm_unlock(c->lock), "mdsm_unlock");
    return t / ((double)c->ops * c->nranks);
}

static double run_counter_mpi(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    double t = MPI_Wtime();
    for (int i = 0; i < c->ops; i++) {
        int64_t v;
        MPI_Win_lock(MPI_LOCK_EXCLUSIVE, HOME, 0, c->win);
        MPI_Get(&v, 1, MPI_INT64_T, HOME, 0, 1, MPI_INT64_T, c->win);
        MPI_Win_flush(HOME, c->win);
        v += 1;
        MPI_Put(&v, 1, MPI_INT64_T, HOME, 0, 1, MPI_INT64_T, c->win);
        MPI_Win_unlock(HOME, c->win);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    return (MPI_Wtime() - t) / ((double)c->ops * c->nranks);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    bench_check(mdsm_init(MPI_COMM_WORLD, NULL), "mdsm_init");
    ctx_t c = {
        .rank = mdsm_rank(), .nranks = mdsm_nranks(), .ops = bench_env_int("BENCH_OPS", 200)};
    if (c.nranks < 2) {
        fprintf(stderr, BENCH_NAME ": needs at least 2 ranks\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    c.lock = HOME; /* lock L is homed on rank L % nranks */
    char *base = NULL;
    char **pages = bench_pages_homed_on(HOME, 1, mdsm_page_size(), &base);
    c.counter = (volatile int64_t *)pages[0];
    MPI_Aint bytes = c.rank == HOME ? sizeof(int64_t) : 0;
    bench_win_open(&c.alloc, bytes, 0, 0, 0);
    bench_win_open(&c.created, bytes, 1, 0, 0);
    int reps = bench_reps(7), warmup = 1;

    c.win = c.alloc.win;
    double alone_mpi = bench_median(run_alone_mpi, &c, warmup, reps);
    double alone = bench_median(run_alone_mdsm, &c, warmup, reps);
    double counter_mpi = bench_median(run_counter_mpi, &c, warmup, reps);
    c.win = c.created.win;
    double counter_created = bench_median(run_counter_mpi, &c, warmup, reps);
    bench_check(mdsm_stats_reset(), "mdsm_stats_reset");
    double counter = bench_median(run_counter_mdsm, &c, warmup, reps);
    mdsm_stats_t s;
    bench_check(mdsm_stats_get(&s), "mdsm_stats_get");

    /* The MPI counters must be exact too, or the baselines measured nothing. */
    struct bench_win *wins[2] = {&c.alloc, &c.created};
    for (int i = 0; i < 2; i++) {
        int64_t mpi_total = 0;
        if (c.rank == HOME) {
            MPI_Win_lock(MPI_LOCK_SHARED, HOME, 0, wins[i]->win);
            memcpy(&mpi_total, wins[i]->mem, sizeof(mpi_total));
            MPI_Win_unlock(HOME, wins[i]->win);
        }
        MPI_Bcast(&mpi_total, 1, MPI_INT64_T, HOME, MPI_COMM_WORLD);
        c.bad |= mpi_total != (int64_t)(warmup + reps) * c.ops * c.nranks;
    }
    int bad = 0;
    MPI_Allreduce(&c.bad, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (c.rank == 0) {
        char title[160];
        snprintf(title, sizeof(title),
                 "lock pair (acquire + release) vs MPI_Win_lock exclusive + unlock, %d ranks, lock "
                 "and window on rank %d",
                 c.nranks, HOME);
        bench_header(title);
        bench_row("alone (rank 0, lock remote)", alone, alone_mpi);
        bench_row("counter, per increment (all ranks)", counter, counter_mpi);
        bench_row("  vs MPI_Win_create window", counter, counter_created);
        printf("# %d pairs per rank x %d repetitions (medians); rank 0 waited %.1f us per "
               "acquire\n",
               c.ops, reps, s.lock_acquires ? s.lock_wait_s * 1e6 / (double)s.lock_acquires : 0);
        if (bad)
            printf("# ERROR: a counter is not exact\n");
    }
    bench_win_close(&c.alloc);
    bench_win_close(&c.created);
    bench_check(mdsm_free(base), "mdsm_free");
    free(pages);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return bad;
}
