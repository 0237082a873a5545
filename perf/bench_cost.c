/* What one synchronisation costs each rank in messages and bytes, from
 * mdsm's own counters (mdsm_stats_t: one-sided operations, point-to-point
 * messages, collectives), for a fixed pattern: each rank writes K pages of its
 * own share and caches the K pages of each of its two neighbours. Counts do
 * not depend on timing, so oversubscribed runs give the same figures as one
 * rank per core. perf/cost-model.sh runs it at 2 to 64 ranks and fits the
 * growth. Run: MDSM_NODE_SHARING=off mpirun -n 8 bench_cost
 * (sharing off: every rank is its own node, as across hosts.) BENCH_K sets K
 * (4), BENCH_REPS the rounds (20). Prints, per operation, the mean per
 * rank and call and the largest rank's mean:
 *   cost <N> <operation> <rma_ops> <messages> <collectives> <bytes> <max ops+msgs> <max bytes> */
#define BENCH_NAME "bench_cost"
#include <string.h>

#include "bench.h"
#include "bench_mdsm.h"

enum { F_OPS, F_MSGS, F_COLLS, F_BYTES, F_COUNT };

struct tally {
    double sum[F_COUNT];
    int calls;
};

static mdsm_stats_t before;

static void start(void)
{
    bench_check(mdsm_stats_get(&before), "mdsm_stats_get");
}

static void stop(struct tally *t)
{
    mdsm_stats_t a;
    bench_check(mdsm_stats_get(&a), "mdsm_stats_get");
    t->sum[F_OPS] += (double)(a.rma_ops - before.rma_ops);
    t->sum[F_MSGS] += (double)(a.messages - before.messages);
    t->sum[F_COLLS] += (double)(a.collectives - before.collectives);
    t->sum[F_BYTES] += (double)(a.rma_bytes - before.rma_bytes) +
                       (double)(a.message_bytes - before.message_bytes) +
                       (double)(a.collective_bytes - before.collective_bytes);
    t->calls++;
}

/* Collective: prints the tally's per-call means (over ranks, and the largest). */
static void report(const char *op, const struct tally *t)
{
    double mine[F_COUNT], sum[F_COUNT], max[F_COUNT];
    for (int f = 0; f < F_COUNT; f++)
        mine[f] = t->calls ? t->sum[f] / t->calls : 0;
    double load[2] = {mine[F_OPS] + mine[F_MSGS], mine[F_BYTES]}, maxload[2];
    MPI_Reduce(mine, sum, F_COUNT, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    MPI_Reduce(mine, max, F_COUNT, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    MPI_Reduce(load, maxload, 2, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    int n = mdsm_nranks();
    if (mdsm_rank() == 0)
        printf("cost %d %-22s %10.2f %10.2f %10.2f %12.1f %10.2f %12.1f\n", n, op, sum[F_OPS] / n,
               sum[F_MSGS] / n, sum[F_COLLS] / n, sum[F_BYTES] / n, maxload[0], maxload[1]);
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    bench_check(mdsm_init(MPI_COMM_WORLD, NULL), "mdsm_init");
    int n = mdsm_nranks(), me = mdsm_rank();
    int k = bench_env_int("BENCH_K", 4), rounds = bench_reps(20);
    long ps = mdsm_page_size();
    /* Block: rank r's share is pages [r k, (r + 1) k). */
    char *mem = bench_alloc((size_t)n * (size_t)k * (size_t)ps);
    char *mine = mem + (size_t)me * (size_t)k * (size_t)ps;
    char *left = mem + (size_t)((me + n - 1) % n) * (size_t)k * (size_t)ps;
    char *right = mem + (size_t)((me + 1) % n) * (size_t)k * (size_t)ps;
    volatile uint64_t sink = 0;
    struct tally barrier = {{0}, 0}, handover = {{0}, 0}, unchanged = {{0}, 0}, changed = {{0}, 0},
                 free_lock = {{0}, 0};

    for (int r = 0; r < rounds; r++) {
        /* Barrier: write the own pages, then read the neighbours' after it. */
        for (int p = 0; p < k; p++)
            ((volatile uint64_t *)(mine + (size_t)p * (size_t)ps))[0] = (uint64_t)r + 1;
        start();
        bench_check(mdsm_barrier(), "mdsm_barrier");
        stop(&barrier);
        for (int p = 0; p < k && n > 1; p++)
            sink += ((volatile uint64_t *)(left + (size_t)p * (size_t)ps))[0] +
                    ((volatile uint64_t *)(right + (size_t)p * (size_t)ps))[0];

        /* Acquire with nothing released since the last one. */
        bench_check(mdsm_acquire(), "mdsm_acquire");
        start();
        bench_check(mdsm_acquire(), "mdsm_acquire");
        stop(&unchanged);
        MPI_Barrier(MPI_COMM_WORLD);

        /* Acquire after every rank wrote one own page and released it. */
        ((volatile uint64_t *)mine)[1] = (uint64_t)r + 1;
        bench_check(mdsm_release(), "mdsm_release");
        MPI_Barrier(MPI_COMM_WORLD);
        start();
        bench_check(mdsm_acquire(), "mdsm_acquire");
        stop(&changed);

        /* Lock handover: every rank queues for one lock and, holding it,
         * writes one own page; the lock goes from holder to holder. */
        start();
        bench_check(mdsm_lock(0), "mdsm_lock");
        ((volatile uint64_t *)mine)[2] = (uint64_t)r + 1;
        bench_check(mdsm_unlock(0), "mdsm_unlock");
        stop(&handover);
        bench_check(mdsm_barrier(), "mdsm_barrier");

        /* A free lock right after a barrier: each rank takes its own one of
         * N locks, last released by another rank before the barrier, and
         * writes one own page under it. */
        int id = (me + r) % n;
        start();
        bench_check(mdsm_lock(id), "mdsm_lock");
        ((volatile uint64_t *)mine)[3] = (uint64_t)r + 1;
        bench_check(mdsm_unlock(id), "mdsm_unlock");
        stop(&free_lock);
        bench_check(mdsm_barrier(), "mdsm_barrier");
    }
    if (me == 0)
        printf("# bench_cost: %d ranks, %d pages written per rank, neighbours' pages cached, %d "
               "rounds\n# cost N operation rma_ops messages collectives bytes max_ops+msgs "
               "max_bytes (per rank and call)\n",
               n, k, rounds);
    report("barrier", &barrier);
    report("lock_handover", &handover);
    report("lock_free", &free_lock);
    report("acquire_unchanged", &unchanged);
    report("acquire_after_releases", &changed);
    (void)sink;
    bench_check(mdsm_free(mem), "mdsm_free");
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return 0;
}
