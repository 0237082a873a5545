/* How long a busy home delays others: rank 1 read-faults pages homed on rank
 * 0, a page every millisecond, while rank 0 computes for 1.5 s without
 * calling MPI or mdsm; the baseline is the same fault while rank 0 waits in
 * MPI_Barrier (its MPI progresses), as many times. Prints the median and
 * worst fault during the computation beside the idle ones: the idle worst is
 * what the machine and MPI cost alone (scheduling, the network stack). Run
 * it where pages cross ranks by MPI: across hosts (scripts/mpirun-hosts.sh
 * -n 2 build/perf/bench_stall) or with MDSM_NODE_SHARING=off; MDSM_PROGRESS
 * decides who serves the faults. Other ranks wait in the barrier. Each page
 * was held by rank 1 before and written by its home since, as in an
 * iterative code; BENCH_FIRST_TOUCH=1 reads fresh pages instead, whose first
 * fetch also sets rank 1's sharer byte at the home (an accumulate). Pages
 * are touched last first: misses in address order would be prefetched, and
 * each touch is to be a fault. */
#include <stdint.h>
#include <time.h>

#define BENCH_NAME "bench_stall"
#include "bench.h"
#include "bench_mdsm.h"

#define COMPUTE_S 1.5
#define PROBE_S   1.2 /* rank 1 stops probing before rank 0 stops computing */
#define GAP_US    1000
enum { IDLE_PROBES = 1100, BUSY_PROBES = 1100 };

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Local work only: no MPI, no mdsm, no system call but the clock. */
static uint64_t compute(double seconds)
{
    static uint64_t local[4096];
    uint64_t x = 1;
    double t0 = now();
    while (now() - t0 < seconds)
        for (int i = 0; i < 4096; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            local[i] ^= x;
        }
    return local[x % 4096];
}

static double touch(volatile char *page)
{
    double t = now();
    (void)page[0];
    return now() - t;
}

static void gap(void)
{
    struct timespec ts = {0, GAP_US * 1000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    bench_check(mdsm_init(MPI_COMM_WORLD, NULL), "mdsm_init");
    int rank = mdsm_rank();
    if (mdsm_nranks() < 2) {
        if (rank == 0)
            fprintf(stderr, BENCH_NAME ": needs at least 2 ranks\n");
        mdsm_finalize();
        return 1;
    }
    char *base = NULL;
    char **pages = bench_pages_homed_on(0, IDLE_PROBES + BUSY_PROBES, mdsm_page_size(), &base);
    static double idle[IDLE_PROBES], busy[BUSY_PROBES];
    int nbusy = 0;
    uint64_t sink = 0;
    int first_touch = bench_env_int("BENCH_FIRST_TOUCH", 0) == 1;
    if (!first_touch) { /* rank 1 holds every page once, then the home writes them all */
        if (rank == 1)
            for (int i = 0; i < IDLE_PROBES + BUSY_PROBES; i++)
                sink += (uint64_t) * (volatile char *)pages[i];
        bench_check(mdsm_barrier(), "mdsm_barrier");
        if (rank == 0)
            for (int i = 0; i < IDLE_PROBES + BUSY_PROBES; i++)
                *(volatile char *)pages[i] = 1;
        bench_check(mdsm_barrier(), "mdsm_barrier");
    }

    MPI_Barrier(MPI_COMM_WORLD);
    if (rank == 1)
        for (int i = 0; i < IDLE_PROBES; i++) {
            idle[i] = touch(pages[IDLE_PROBES + BUSY_PROBES - 1 - i]);
            gap();
        }
    MPI_Barrier(MPI_COMM_WORLD); /* rank 0 waits here, in MPI */

    if (rank == 0) {
        sink = compute(COMPUTE_S);
    } else if (rank == 1) {
        double t0 = now();
        while (nbusy < BUSY_PROBES && now() - t0 < PROBE_S) {
            busy[nbusy] = touch(pages[BUSY_PROBES - 1 - nbusy]);
            nbusy++;
            gap();
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);

    if (rank == 1) {
        qsort(idle, IDLE_PROBES, sizeof(double), bench_cmp);
        qsort(busy, (size_t)nbusy, sizeof(double), bench_cmp);
        bench_header(first_touch ? "first read of a page homed on a rank that computes (sets its "
                                   "sharer byte, then gets it), vs while it waits in MPI"
                                 : "read fault on a page homed on a rank that computes, held "
                                   "before and written by the home since, vs while it waits in "
                                   "MPI");
        bench_row("median fault while the home computes", busy[nbusy / 2], idle[IDLE_PROBES / 2]);
        bench_row("worst fault while the home computes", busy[nbusy - 1], idle[IDLE_PROBES - 1]);
        printf("  (%d faults during the computation, %d while waiting; worst %.3f ms and %.3f "
               "ms)\n",
               nbusy, IDLE_PROBES, busy[nbusy - 1] * 1e3, idle[IDLE_PROBES - 1] * 1e3);
        fflush(stdout);
    }
    bench_check(mdsm_barrier(), "mdsm_barrier");
    bench_check(mdsm_free(base), "mdsm_free");
    free(pages);
    bench_check(mdsm_finalize(), "mdsm_finalize");
    return (int)(sink & 0); /* keeps the computation */
}
