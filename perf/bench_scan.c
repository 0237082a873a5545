/* Sequential scan: rank 0 reads one word of each of K pages homed on rank 1,
 * in address order, none cached, so reads miss in order and mdsm fetches
 * growing runs of pages per miss (MDSM_PREFETCH_MAX). Between repetitions
 * rank 1 writes every page and all ranks meet in a barrier, which invalidates
 * rank 0's copies (their memory is kept). The baseline moves the same bytes
 * the way hand-written MPI code would: MPI_Get of BENCH_CHUNK bytes (default
 * 256 KiB) + MPI_Win_flush, into populated memory, from an MPI_Win_create
 * window like mdsm's. Per page, both. A second row times the same reads
 * after one mdsm_prefetch of the pages' range (hint included). A third reads
 * every BENCH_STRIDE-th page (default 4) in address order, against a get of
 * each of those pages and one flush.
 * Run: MDSM_NODE_SHARING=off mpirun -n 2 bench_scan, or across hosts
 * (BENCH_PAGES=K, BENCH_REPS=R, BENCH_CHUNK=bytes) */
#include <stdint.h>
#include <string.h>

#define BENCH_NAME "bench_scan"
#include "bench.h"
#include "bench_mdsm.h"

#define HOME 1

typedef struct ctx {
    int rank;
    long page;
    int npages;
    char *base;
    char **pages;
    uint64_t round;
    uint64_t bad;
    struct bench_win created; /* baseline: K pages on HOME, MPI_Win_create'd like mdsm's */
    MPI_Win win;              /* its window */
    char *buf;
    size_t bytes, chunk;
    char **strided; /* every stride-th of pages */
    int nstrided, stride;
} ctx_t;

static double run_mdsm(void *arg)
{
    ctx_t *c = arg;
    return bench_read_round(c->pages, c->npages, HOME, ++c->round, BENCH_FORWARD, &c->bad);
}

static double run_hinted(void *arg)
{
    ctx_t *c = arg;
    return bench_read_round(c->pages, c->npages, HOME, ++c->round, BENCH_HINTED, &c->bad);
}

static double run_strided(void *arg)
{
    ctx_t *c = arg;
    return bench_read_round(c->strided, c->nstrided, HOME, ++c->round, BENCH_FORWARD, &c->bad);
}

/* Baseline of the strided reads: a get of each page, one flush after all. */
static double run_strided_mpi(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    for (int i = 0; i < c->nstrided; i++) {
        MPI_Aint at = (MPI_Aint)i * c->stride * c->page;
        MPI_Get(c->buf + at, (int)c->page, MPI_BYTE, HOME, at, (int)c->page, MPI_BYTE, c->win);
    }
    MPI_Win_flush(HOME, c->win);
    return (MPI_Wtime() - t) / c->nstrided;
}

static double run_mpi(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    for (size_t at = 0; at < c->bytes; at += c->chunk) {
        size_t len = c->bytes - at < c->chunk ? c->bytes - at : c->chunk;
        MPI_Get(c->buf + at, (int)len, MPI_BYTE, HOME, (MPI_Aint)at, (int)len, MPI_BYTE, c->win);
        MPI_Win_flush(HOME, c->win);
    }
    return (MPI_Wtime() - t) / c->npages;
}

static void open_window(ctx_t *c)
{
    c->bytes = (size_t)c->npages * (size_t)c->page;
    MPI_Aint size = c->rank == HOME ? (MPI_Aint)c->bytes : 0;
    c->buf = malloc(c->bytes);
    if (!c->buf)
        MPI_Abort(MPI_COMM_WORLD, 1);
    memset(c->buf, 0, c->bytes);
    bench_win_open(&c->created, size, 1, 1, 1);
    c->win = c->created.win;
}

static void close_window(ctx_t *c)
{
    bench_win_close(&c->created);
    free(c->buf);
}

int main(int argc, char **argv)
{
    bench_start_pair(&argc, &argv);
    ctx_t c = {.rank = mdsm_rank(), .page = mdsm_page_size()};
    c.npages = bench_env_int("BENCH_PAGES", 1024);
    c.chunk = (size_t)bench_env_int("BENCH_CHUNK", 256 * 1024);
    c.pages = bench_pages_homed_on(HOME, c.npages, c.page, &c.base);
    c.stride = bench_env_int("BENCH_STRIDE", 4);
    c.strided = malloc(sizeof(char *) * (size_t)c.npages);
    if (!c.strided || c.stride < 1)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (int i = 0; i < c.npages; i += c.stride)
        c.strided[c.nstrided++] = c.pages[i];
    open_window(&c);
    int reps = bench_reps(30), warmup = 3;
    double base = bench_median(run_mpi, &c, warmup, reps);
    for (int i = 0; i < warmup; i++)
        run_mdsm(&c);
    bench_check(mdsm_stats_reset(), "mdsm_stats_reset");
    c.bad = 0;
    double mdsm = bench_median(run_mdsm, &c, 0, reps);
    mdsm_stats_t s;
    bench_check(mdsm_stats_get(&s), "mdsm_stats_get");
    double hinted = bench_median(run_hinted, &c, warmup, reps);
    double strided_base = bench_median(run_strided_mpi, &c, warmup, reps);
    double strided = bench_median(run_strided, &c, warmup, reps);
    if (c.rank == 0) {
        char name[64];
        snprintf(name, sizeof(name), "scan, per %ld B page", c.page);
        bench_header("sequential read scan per page vs MPI_Get of large chunks + MPI_Win_flush");
        bench_row(name, mdsm, base);
        bench_row("  after mdsm_prefetch of the range", hinted, base);
        snprintf(name, sizeof(name), "every %dth page / a get each, 1 flush", c.stride);
        bench_row(name, strided, strided_base);
        double n = (double)reps * c.npages;
        printf("# %d pages x %d repetitions (median of per-page means), chunks of %zu B; per page "
               "read: %.3f read faults, %.2f pages fetched, %.2f prefetched\n",
               c.npages, reps, c.chunk, s.read_faults / n, s.pages_fetched / n,
               s.pages_prefetched / n);
        if (c.bad)
            printf("# ERROR: %llu reads did not see the home rank's write\n",
                   (unsigned long long)c.bad);
    }
    close_window(&c);
    bench_check(mdsm_free(c.base), "mdsm_free");
    free(c.pages);
    free(c.strided);
    int failed = c.bad != 0;
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return failed;
}
