/* papi_region: counts one region of an mdsm program with mdsm's PAPI events
 * and the kernel's software events together (mdsm_papi.h).
 *
 * The region: a 1-D integer smoothing over an array in mdsm memory, `sweeps`
 * times, each sweep reading the neighbours' boundary pages and ending in a
 * barrier; then a reduction: each rank sums its block and adds the sum into a
 * shared total under a lock. Integer arithmetic makes the result exact, so
 * rank 0 checks it against the same computation done sequentially.
 *
 * Every rank counts the region with one mdsm_papi region: mdsm's events
 * (sde:::mdsm::*) and perf_event's (perf::*) need two PAPI event sets, which
 * the region makes and runs together. Rank 0 prints each event per rank.
 *
 * Usage: papi_region [-n elements] [-s sweeps] [-e EVENT]...
 *   -e adds a PAPI event, e.g. -e perf::PERF_COUNT_SW_CONTEXT_SWITCHES or a
 *   hardware event such as -e PAPI_TOT_INS where the machine has counters.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mdsm.h"
#include "mdsm_papi.h"

#define MAX_EVENTS 24

static const char *default_events[] = {
    "sde:::mdsm::READ_FAULTS",
    "sde:::mdsm::PAGES_FETCHED",
    "sde:::mdsm::DIFFS",
    "sde:::mdsm::DIFF_BYTES",
    "sde:::mdsm::INVALIDATIONS",
    "sde:::mdsm::LOCK_ACQUIRES",
    "sde:::mdsm::BARRIERS",
    "sde:::mdsm::BARRIER_NS",
    "perf::PERF_COUNT_SW_PAGE_FAULTS",
    "perf::PERF_COUNT_SW_TASK_CLOCK",
};

typedef struct options {
    long n;
    long sweeps;
    const char *events[MAX_EVENTS];
    int nevents;
} options_t;

static void check(int rc, const char *what)
{
    if (rc == MDSM_OK)
        return;
    fprintf(stderr, "papi_region: rank %d: %s failed: %s: %s\n", mdsm_rank(), what,
            mdsm_strerror(rc), mdsm_last_error_message());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_options(int argc, char **argv, options_t *o)
{
    o->n = 1L << 20;
    o->sweeps = 8;
    o->nevents = 0;
    for (size_t i = 0; i < sizeof(default_events) / sizeof(default_events[0]); i++)
        o->events[o->nevents++] = default_events[i];
    int c;
    opterr = 0;
    while ((c = getopt(argc, argv, "n:s:e:")) != -1) {
        switch (c) {
        case 'n':
            if (parse_long(optarg, 16, 1L << 26, &o->n))
                return -1;
            break;
        case 's':
            if (parse_long(optarg, 0, 1000, &o->sweeps))
                return -1;
            break;
        case 'e':
            if (o->nevents == MAX_EVENTS)
                return -1;
            o->events[o->nevents++] = optarg;
            break;
        default: return -1;
        }
    }
    return optind == argc ? 0 : -1;
}

static int64_t initial(long i)
{
    return (int64_t)((i * 7919) % 1000);
}

/* One smoothing step on [lo, hi); the two ends of the array stay fixed. */
static void sweep(int64_t *dst, const int64_t *src, long n, long lo, long hi)
{
    for (long i = lo; i < hi; i++)
        dst[i] = (i == 0 || i == n - 1) ? src[i] : (src[i - 1] + 2 * src[i] + src[i + 1]) / 4;
}

/* The region of interest. Returns the array holding the result. */
static int64_t *compute(int64_t *a, int64_t *b, int64_t *total, const options_t *o, long lo,
                        long hi)
{
    for (long s = 0; s < o->sweeps; s++) {
        sweep(b, a, o->n, lo, hi);
        check(mdsm_barrier(), "mdsm_barrier");
        int64_t *t = a;
        a = b;
        b = t;
    }
    int64_t mine = 0;
    for (long i = lo; i < hi; i++)
        mine += a[i];
    check(mdsm_lock(0), "mdsm_lock");
    *total += mine;
    check(mdsm_unlock(0), "mdsm_unlock");
    check(mdsm_barrier(), "mdsm_barrier");
    return a;
}

/* The same computation on one rank in private memory; caller frees. */
static int64_t *reference(const options_t *o)
{
    int64_t *a = malloc((size_t)o->n * sizeof(*a)), *b = malloc((size_t)o->n * sizeof(*b));
    if (!a || !b)
        MPI_Abort(MPI_COMM_WORLD, 1);
    for (long i = 0; i < o->n; i++)
        a[i] = initial(i);
    for (long s = 0; s < o->sweeps; s++) {
        sweep(b, a, o->n, 0, o->n);
        int64_t *t = a;
        a = b;
        b = t;
    }
    free(b);
    return a;
}

/* Rank 0: the whole array (read through mdsm) and the shared sum against the
 * reference; returns 1 if they match. */
static int verify(const int64_t *result, int64_t total, const options_t *o)
{
    int64_t *want = reference(o), sum = 0;
    long bad = -1;
    for (long i = 0; i < o->n; i++) {
        sum += want[i];
        if (bad < 0 && result[i] != want[i])
            bad = i;
    }
    if (bad >= 0)
        printf("papi_region: FAILED: element %ld is %lld, the sequential reference %lld\n", bad,
               (long long)result[bad], (long long)want[bad]);
    else if (total != sum)
        printf("papi_region: FAILED: sum %lld, sequential reference %lld\n", (long long)total,
               (long long)sum);
    else
        printf("papi_region: verified: all %ld elements and the sum %lld equal the sequential "
               "reference\n",
               o->n, (long long)sum);
    free(want);
    return bad < 0 && total == sum;
}

/* Rank 0 prints every event for every rank. */
static void report(const mdsm_papi_region_t *r, const options_t *o, int rank, int nranks)
{
    long long mine[MAX_EVENTS];
    check(mdsm_papi_region_read(r, mine, o->nevents), "mdsm_papi_region_read");
    long long *all = rank == 0 ? malloc((size_t)nranks * MAX_EVENTS * sizeof(*all)) : NULL;
    if (rank == 0 && !all)
        MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Gather(mine, o->nevents, MPI_LONG_LONG, all, o->nevents, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
    if (rank != 0)
        return;
    printf("papi_region: the region counted on each rank (%d PAPI event sets per rank)\n",
           mdsm_papi_region_num_eventsets(r));
    printf("  %-34s", "event");
    for (int k = 0; k < nranks; k++)
        printf(" %12s%d", "rank ", k);
    printf("\n");
    for (int e = 0; e < o->nevents; e++) {
        printf("  %-34s", o->events[e]);
        for (int k = 0; k < nranks; k++)
            printf(" %13lld", all[k * o->nevents + e]);
        printf("\n");
    }
    free(all);
}

/* Collective: a region of o's events on every rank, or NULL on every rank. */
static mdsm_papi_region_t *create_region(const options_t *o, int quiet)
{
    mdsm_papi_region_t *region = NULL;
    int rc = mdsm_papi_region_create(&region, o->events, o->nevents), failed = rc != MDSM_OK, any;
    if (failed && !quiet)
        fprintf(stderr, "papi_region: rank %d: %s\n", mdsm_rank(), mdsm_last_error_message());
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any && !failed)
        mdsm_papi_region_destroy(region);
    return any ? NULL : region;
}

static int run(options_t *o)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    long lo = rank * o->n / nranks, hi = (rank + 1) * o->n / nranks;
    /* Every rank must be able to count the events (e.g. -e PAPI_TOT_INS
     * fails where there are no hardware counters): agree before going on.
     * The default perf:: events need PAPI's perf_event component, which some
     * VMs lack (libpfm4 finds no PMU): then mdsm's events alone are counted. */
    int defaults = o->nevents == (int)(sizeof(default_events) / sizeof(default_events[0]));
    mdsm_papi_region_t *region = create_region(o, defaults);
    if (!region && defaults) {
        int kept = 0;
        for (int e = 0; e < o->nevents; e++)
            if (strncmp(o->events[e], "sde:::", 6) == 0)
                o->events[kept++] = o->events[e];
        o->nevents = kept;
        if (rank == 0)
            printf("papi_region: perf:: events are not countable here (PAPI's perf_event "
                   "component is disabled); counting mdsm's events only\n");
        region = create_region(o, 0);
    }
    if (!region)
        return 0;
    int64_t *a = mdsm_alloc((size_t)o->n * sizeof(*a)), *b = mdsm_alloc((size_t)o->n * sizeof(*b));
    int64_t *total = mdsm_alloc(sizeof(*total));
    if (!a || !b || !total)
        check(mdsm_last_error(), "mdsm_alloc");
    for (long i = lo; i < hi; i++)
        a[i] = b[i] = initial(i);

    check(mdsm_barrier(), "mdsm_barrier");

    double t = MPI_Wtime();
    check(mdsm_papi_region_start(region), "mdsm_papi_region_start");
    int64_t *result = compute(a, b, total, o, lo, hi);
    check(mdsm_papi_region_stop(region), "mdsm_papi_region_stop");
    t = MPI_Wtime() - t;

    double slowest;
    MPI_Reduce(&t, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    int ok = 1;
    if (rank == 0) {
        printf("papi_region: %ld elements, %ld sweeps, %d ranks: region %.3f s (slowest rank)\n",
               o->n, o->sweeps, nranks, slowest);
        ok = verify(result, *total, o);
    }
    report(region, o, rank, nranks);
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    check(mdsm_papi_region_destroy(region), "mdsm_papi_region_destroy");
    check(mdsm_barrier(), "mdsm_barrier");
    check(mdsm_free(a), "mdsm_free");
    check(mdsm_free(b), "mdsm_free");
    check(mdsm_free(total), "mdsm_free");
    return ok;
}

int main(int argc, char **argv)
{
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    if (rc != MDSM_OK) {
        fprintf(stderr, "papi_region: mdsm_init failed: %s: %s\n", mdsm_strerror(rc),
                mdsm_last_error_message());
        return 1;
    }
    options_t o;
    if (parse_options(argc, argv, &o) != 0) {
        if (mdsm_rank() == 0)
            fprintf(stderr,
                    "usage: papi_region [-n elements 16..67108864] [-s sweeps 0..1000] "
                    "[-e PAPI_EVENT]... (at most %d events)\n",
                    MAX_EVENTS);
        mdsm_finalize();
        return 2;
    }
    int ok = run(&o);
    mdsm_finalize();
    return ok ? 0 : 1;
}
