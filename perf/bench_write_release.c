/* Write fault + release per page: rank 0 writes one word into each of K pages
 * homed on rank 1 that it already caches, so each first write is a write fault
 * that makes a twin, then calls mdsm_release(), which diffs the pages and
 * writes the changed bytes home. Figure: that total time / K. Floors, per
 * page: an MPI_Put of the changed word + MPI_Win_flush, and an MPI_Put of
 * the whole page + MPI_Win_flush, in an MPI_Win_allocate window of this run;
 * and the page put in an MPI_Win_create window, the kind mdsm's home pages are.
 * A second case, rewrite + release, times the intervals that follow: the same
 * pages written again (they stayed writable, with their twins) and released,
 * REWRITES times in a row.
 * Run: mpirun -n 2 bench_write_release   (more ranks only join the barriers;
 * BENCH_PAGES=K, BENCH_REPS=R) */
#include <stdint.h>
#include <string.h>

#define BENCH_NAME "bench_write_release"
#include "bench.h"
#include "bench_mdsm.h"

#define HOME 1 /* rank that homes the pages */

typedef struct ctx {
    int rank;
    long page;                       /* bytes per page */
    int npages;                      /* K */
    char *base;                      /* the mdsm allocation */
    char **pages;                    /* the K pages of it homed on HOME */
    uint64_t round;                  /* repetition number: word() of it is what rank 0 writes */
    MPI_Win win;                     /* the baseline's window now: one of the two below */
    struct bench_win alloc, created; /* baseline: K pages exposed by HOME */
    char *buf;                       /* baseline: rank 0's source page */
} ctx_t;

/* The word written in a round: every byte differs from the last round's
 * (barring carries), so each page's diff is the whole word, as the floor's. */
static uint64_t word(uint64_t round)
{
    return round * 0x0101010101010101ull;
}

/* One repetition, timed on rank 0 only. The barrier keeps the other ranks
 * inside mdsm (serving the release) while rank 0 measures. */
static double run_mdsm(void *arg)
{
    ctx_t *c = arg;
    c->round++;
    bench_check(mdsm_barrier(), "mdsm_barrier");
    if (c->rank != 0)
        return 0.0;
    uint64_t sink = 0;
    for (int i = 0; i < c->npages; i++) /* untimed: make sure every page is cached */
        sink += *(volatile uint64_t *)c->pages[i];
    (void)sink;
    double t = MPI_Wtime();
    for (int i = 0; i < c->npages; i++)
        *(volatile uint64_t *)c->pages[i] = word(c->round);
    bench_check(mdsm_release(), "mdsm_release");
    return (MPI_Wtime() - t) / c->npages;
}

enum { REWRITES = 4 };

/* One repetition of rewrite + release: an untimed write + release, then
 * REWRITES timed ones. */
static double run_mdsm_again(void *arg)
{
    ctx_t *c = arg;
    uint64_t first = c->round + 1;
    c->round += REWRITES + 1; /* on every rank: the last value written */
    bench_check(mdsm_barrier(), "mdsm_barrier");
    if (c->rank != 0)
        return 0.0;
    double t = 0.0;
    for (int r = 0; r <= REWRITES; r++) {
        if (r == 1)
            t = MPI_Wtime();
        for (int i = 0; i < c->npages; i++)
            *(volatile uint64_t *)c->pages[i] = word(first + (uint64_t)r);
        bench_check(mdsm_release(), "mdsm_release");
    }
    return (MPI_Wtime() - t) / ((double)REWRITES * c->npages);
}

/* Baseline repetition: one MPI_Put of bytes per page, each flushed. */
static double put_per_page(ctx_t *c, int bytes)
{
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    for (int i = 0; i < c->npages; i++) {
        MPI_Put(c->buf, bytes, MPI_BYTE, HOME, (MPI_Aint)i * c->page, bytes, MPI_BYTE, c->win);
        MPI_Win_flush(HOME, c->win);
    }
    return (MPI_Wtime() - t) / c->npages;
}

static double run_put_word(void *arg)
{
    return put_per_page(arg, (int)sizeof(uint64_t));
}

static double run_put_page(void *arg)
{
    ctx_t *c = arg;
    return put_per_page(c, (int)c->page);
}

static void open_window(ctx_t *c)
{
    MPI_Aint size = c->rank == HOME ? (MPI_Aint)c->npages * c->page : 0;
    bench_win_open(&c->alloc, size, 0, 0, 1);
    bench_win_open(&c->created, size, 1, 0, 1);
    c->buf = malloc((size_t)c->page);
    if (!c->buf)
        MPI_Abort(MPI_COMM_WORLD, 1);
    memset(c->buf, 1, (size_t)c->page);
}

static void close_window(ctx_t *c)
{
    bench_win_close(&c->alloc);
    bench_win_close(&c->created);
    free(c->buf);
}

/* Collective. After a barrier the home must hold rank 0's last value in
 * every page; returns the number of pages that do not, on every rank. */
static int count_lost_writes(const ctx_t *c)
{
    bench_check(mdsm_barrier(), "mdsm_barrier");
    int lost = 0, all;
    if (c->rank == HOME)
        for (int i = 0; i < c->npages; i++)
            lost += *(volatile uint64_t *)c->pages[i] != word(c->round);
    MPI_Allreduce(&lost, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    return all;
}

/* Rank 0: the table, plus the counters that show what was measured. */
static void report(const ctx_t *c, double mdsm, double again, double word, double page,
                   double created, int reps, const mdsm_stats_t *s, const mdsm_stats_t *s2,
                   int lost)
{
    double n = (double)reps * c->npages, n2 = n * (REWRITES + 1);
    bench_header("write fault + mdsm_release per page vs MPI_Put + MPI_Win_flush per page");
    bench_row("write+release vs Put 8 B + flush", mdsm, word);
    bench_row("write+release vs Put page + flush", mdsm, page);
    bench_row("  vs Put page on MPI_Win_create", mdsm, created);
    bench_row("rewrite+release vs Put page + flush", again, page);
    bench_row("  rewrite vs Put page on Win_create", again, created);
    printf("# %d pages of %ld B x %d repetitions (median of per-page means); per page: "
           "%.2f write faults, %.2f read faults, %.2f diffs, %.1f diff bytes; rewrite (%d "
           "intervals after the first): %.2f write faults, %.2f diffs\n",
           c->npages, c->page, reps, s->write_faults / n, s->read_faults / n, s->diffs / n,
           s->diff_bytes / n, REWRITES, s2->write_faults / n2, s2->diffs / n2);
    if (lost)
        printf("# ERROR: %d pages at the home rank lack rank 0's last write\n", lost);
}

int main(int argc, char **argv)
{
    bench_start_pair(&argc, &argv);
    ctx_t c = {.rank = mdsm_rank(), .page = mdsm_page_size()};
    c.npages = bench_env_int("BENCH_PAGES", 256);
    c.pages = bench_pages_homed_on(HOME, c.npages, c.page, &c.base);
    open_window(&c);
    int reps = bench_reps(50), warmup = 3;

    c.win = c.alloc.win;
    double word = bench_median(run_put_word, &c, warmup, reps);
    double page = bench_median(run_put_page, &c, warmup, reps);
    c.win = c.created.win;
    double created = bench_median(run_put_page, &c, warmup, reps);
    for (int i = 0; i < warmup; i++)
        run_mdsm(&c);
    bench_check(mdsm_stats_reset(), "mdsm_stats_reset");
    double mdsm = bench_median(run_mdsm, &c, 0, reps);
    mdsm_stats_t s;
    bench_check(mdsm_stats_get(&s), "mdsm_stats_get");
    bench_check(mdsm_stats_reset(), "mdsm_stats_reset");
    double again = bench_median(run_mdsm_again, &c, 0, reps);
    mdsm_stats_t s2;
    bench_check(mdsm_stats_get(&s2), "mdsm_stats_get");
    int lost = count_lost_writes(&c);
    if (c.rank == 0)
        report(&c, mdsm, again, word, page, created, reps, &s, &s2, lost);

    close_window(&c);
    bench_check(mdsm_free(c.base), "mdsm_free");
    free(c.pages);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return lost != 0;
}
