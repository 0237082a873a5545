/* Remote read-fault latency per page: rank 0 reads one word of each of K
 * pages homed on rank 1 and not cached, last page first, so every read is a
 * fault that fetches the page from its home (reads in address order would
 * prefetch: bench_scan measures those). Between repetitions rank 1 writes every page and all
 * ranks meet in a barrier, which invalidates rank 0's copies. The baselines:
 * a one-page MPI_Get + MPI_Win_flush from rank 1 in a window of this run, and
 * the fault floor: the least a protection fault that fetches can cost (the
 * signal, one mprotect, an MPI_Get into populated memory through a second
 * mapping of the same file), measured with a handler of this program's own.
 * With node sharing on, pages homed on a rank of this node never fault: run
 * with MDSM_NODE_SHARING=off (or across hosts) to measure the fault.
 * Run: mpirun -n 2 bench_read_fault   (more ranks only join the barriers;
 * BENCH_PAGES=K, BENCH_REPS=R) */
#define _GNU_SOURCE /* memfd_create */
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define BENCH_NAME "bench_read_fault"
#include "bench.h"
#include "bench_mdsm.h"

#define HOME 1 /* rank that homes the pages */

typedef struct ctx {
    int rank;
    long page;      /* bytes per page */
    int npages;     /* K */
    char *base;     /* the mdsm allocation holding them */
    char **pages;   /* the K mdsm pages homed on HOME */
    uint64_t round; /* value HOME writes in the current repetition */
    uint64_t bad;   /* reads that did not see HOME's write */
    MPI_Win win;    /* baseline: K pages exposed by HOME (the window being measured) */
    struct bench_win alloc, created; /* MPI_Win_allocate'd; MPI_Win_create'd like mdsm's */
    char *buf;                       /* baseline: rank 0's landing page */
    char *floor_pages, *floor_view;  /* floor: K pages, PROT_NONE, and a read-write view */
} ctx_t;

static ctx_t *floor_ctx; /* for the floor's signal handler */

/* The floor's fault: fetch into the view, then one protection change. */
static void floor_handler(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    ctx_t *c = floor_ctx;
    size_t i = (size_t)((char *)si->si_addr - c->floor_pages) / (size_t)c->page;
    MPI_Get(c->floor_view + i * (size_t)c->page, (int)c->page, MPI_BYTE, HOME,
            (MPI_Aint)(i * (size_t)c->page), (int)c->page, MPI_BYTE, c->created.win);
    MPI_Win_flush(HOME, c->created.win);
    mprotect(c->floor_pages + i * (size_t)c->page, (size_t)c->page, PROT_READ);
}

static double run_floor(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    size_t len = (size_t)c->npages * (size_t)c->page;
    mprotect(c->floor_pages, len, PROT_NONE); /* every page faults again, memory kept */
    uint64_t sum = 0;
    double t = MPI_Wtime();
    for (int i = 0; i < c->npages; i++)
        sum += *(volatile uint64_t *)(c->floor_pages + (size_t)i * (size_t)c->page);
    t = MPI_Wtime() - t;
    c->bad += sum != (uint64_t)c->npages * 0x0101010101010101ull;
    return t / c->npages;
}

/* The floor's pages: two mappings of one memfd, populated, then measured
 * under this program's SIGSEGV handler (mdsm's is put back afterwards). */
static double measure_floor(ctx_t *c, int warmup, int reps)
{
    size_t len = (size_t)c->npages * (size_t)c->page;
    int fd = memfd_create("bench-floor", 0);
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0)
        MPI_Abort(MPI_COMM_WORLD, 1);
    c->floor_view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    c->floor_pages = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    memset(c->floor_view, 0, len);
    floor_ctx = c;
    struct sigaction sa, saved;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = floor_handler;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &saved);
    double f = bench_median(run_floor, c, warmup, reps);
    sigaction(SIGSEGV, &saved, NULL);
    munmap(c->floor_view, len);
    munmap(c->floor_pages, len);
    return f;
}

/* One repetition: HOME writes, barrier (rank 0's copies become stale), then
 * rank 0 reads each page once. Seconds per page on rank 0. */
static double run_mdsm(void *arg)
{
    ctx_t *c = arg;
    /* Last first: no read is prefetched (bench_scan measures those). */
    return bench_read_round(c->pages, c->npages, HOME, ++c->round, BENCH_BACKWARD, &c->bad);
}

/* Baseline repetition: rank 0 gets each page with its own flush. */
static double run_mpi(void *arg)
{
    ctx_t *c = arg;
    MPI_Barrier(MPI_COMM_WORLD);
    if (c->rank != 0)
        return 0.0;
    double t = MPI_Wtime();
    for (int i = 0; i < c->npages; i++) {
        MPI_Get(c->buf, (int)c->page, MPI_BYTE, HOME, (MPI_Aint)i * c->page, (int)c->page, MPI_BYTE,
                c->win);
        MPI_Win_flush(HOME, c->win);
    }
    return (MPI_Wtime() - t) / c->npages;
}

/* Two floors: an MPI_Win_allocate window (shared memory on one node: what
 * hand-written MPI code would use) and an MPI_Win_create window over a shared
 * mapping, the kind mdsm's home pages need to be usable in place. */
static void open_windows(ctx_t *c)
{
    MPI_Aint size = c->rank == HOME ? (MPI_Aint)c->npages * c->page : 0;
    bench_win_open(&c->alloc, size, 0, 1, 1);
    bench_win_open(&c->created, size, 1, 1, 1);
    c->buf = malloc((size_t)c->page);
}

static void close_windows(ctx_t *c)
{
    bench_win_close(&c->alloc);
    bench_win_close(&c->created);
    free(c->buf);
}

/* Rank 0: the table, plus the counters that show what was measured. */
static void report(const ctx_t *c, double mdsm, double base, double base_created, double floor,
                   int reps, const mdsm_stats_t *s)
{
    char name[64];
    double n = (double)reps * c->npages;
    snprintf(name, sizeof(name), "read fault, %ld B page", c->page);
    bench_header("remote read fault per page vs MPI_Get + MPI_Win_flush of one page");
    bench_row(name, mdsm, base);
    bench_row("  vs MPI_Get on MPI_Win_create", mdsm, base_created);
    bench_row("  vs fault floor: signal+mprotect+get", mdsm, floor);
    printf("# %d pages x %d repetitions (median of per-page means); per page read: "
           "%.2f read faults, %.2f pages fetched\n",
           c->npages, reps, s->read_faults / n, s->pages_fetched / n);
    if (c->bad)
        printf("# ERROR: %llu reads did not see the home rank's write\n",
               (unsigned long long)c->bad);
}

int main(int argc, char **argv)
{
    bench_start_pair(&argc, &argv);
    ctx_t c = {.rank = mdsm_rank(), .page = mdsm_page_size(), .npages = 256};
    c.npages = bench_env_int("BENCH_PAGES", c.npages);
    c.pages = bench_pages_homed_on(HOME, c.npages, c.page, &c.base);
    open_windows(&c);
    int reps = bench_reps(50), warmup = 3;

    c.win = c.alloc.win;
    double base = bench_median(run_mpi, &c, warmup, reps);
    c.win = c.created.win;
    double base_created = bench_median(run_mpi, &c, warmup, reps);
    double floor = measure_floor(&c, warmup, reps);
    for (int i = 0; i < warmup; i++)
        run_mdsm(&c);
    bench_check(mdsm_stats_reset(), "mdsm_stats_reset");
    c.bad = 0;
    double mdsm = bench_median(run_mdsm, &c, 0, reps);
    mdsm_stats_t s;
    bench_check(mdsm_stats_get(&s), "mdsm_stats_get");
    if (c.rank == 0)
        report(&c, mdsm, base, base_created, floor, reps, &s);

    close_windows(&c);
    bench_check(mdsm_free(c.base), "mdsm_free");
    free(c.pages);
    int failed = c.bad != 0;
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    MPI_Finalize();
    return failed;
}
