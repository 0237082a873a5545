#include "example.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static const char *ex_name = "example";

int ex_init(const char *name)
{
    ex_name = name;
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    if (rc != MDSM_OK) {
        fprintf(stderr, "%s: mdsm_init failed: %s: %s\n", ex_name, mdsm_strerror(rc),
                mdsm_last_error_message());
        return -1;
    }
    return 0;
}

int ex_finalize(int ok)
{
    int rc = mdsm_finalize();
    if (rc != MDSM_OK) { /* MPI may be gone: report, do not abort */
        fprintf(stderr, "%s: mdsm_finalize failed: %s: %s\n", ex_name, mdsm_strerror(rc),
                mdsm_last_error_message());
        return 1;
    }
    return ok ? 0 : 1;
}

int ex_usage(const char *fmt, ...)
{
    if (mdsm_rank() == 0) {
        va_list ap;
        va_start(ap, fmt);
        fputs("usage: ", stderr);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
    }
    mdsm_finalize();
    return 2;
}

void ex_check(int rc, const char *what)
{
    if (rc == MDSM_OK)
        return;
    fprintf(stderr, "%s: rank %d: %s failed: %s: %s\n", ex_name, mdsm_rank(), what,
            mdsm_strerror(rc), mdsm_last_error_message());
    MPI_Abort(MPI_COMM_WORLD, 1);
}

void *ex_alloc(size_t bytes)
{
    void *p = mdsm_alloc(bytes);
    if (!p)
        ex_check(mdsm_last_error(), "mdsm_alloc");
    return p;
}

void *ex_private(size_t bytes)
{
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        fprintf(stderr, "%s: rank %d: out of memory for %zu private bytes\n", ex_name, mdsm_rank(),
                bytes);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    return p;
}

int ex_parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

double ex_max_over_ranks(double mine)
{
    double max = mine;
    MPI_Reduce(&mine, &max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    return mdsm_rank() == 0 ? max : mine;
}

static void print_row(const char *who, const mdsm_stats_t *s)
{
    printf("  %5s %8llu %8llu %8llu %9.2f %8llu %8.1f %8llu %6llu %7llu %7.3f %8llu %9.3f\n", who,
           (unsigned long long)s->read_faults, (unsigned long long)s->write_faults,
           (unsigned long long)s->pages_fetched, s->bytes_fetched / 1048576.0,
           (unsigned long long)s->diffs, s->diff_bytes / 1024.0,
           (unsigned long long)s->invalidations, (unsigned long long)s->evictions,
           (unsigned long long)s->lock_acquires, s->lock_wait_s, (unsigned long long)s->barriers,
           s->barrier_s);
}

static void add_stats(mdsm_stats_t *sum, const mdsm_stats_t *s)
{
    sum->read_faults += s->read_faults;
    sum->write_faults += s->write_faults;
    sum->pages_fetched += s->pages_fetched;
    sum->bytes_fetched += s->bytes_fetched;
    sum->diffs += s->diffs;
    sum->diff_bytes += s->diff_bytes;
    sum->invalidations += s->invalidations;
    sum->evictions += s->evictions;
    sum->lock_acquires += s->lock_acquires;
    sum->lock_wait_s += s->lock_wait_s;
    sum->barriers += s->barriers;
    sum->barrier_s += s->barrier_s;
}

void ex_report_stats(const mdsm_stats_t *mine, const char *title)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    mdsm_stats_t *all = rank == 0 ? ex_private((size_t)nranks * sizeof(*all)) : NULL;
    MPI_Gather(mine, (int)sizeof(*mine), MPI_BYTE, all, (int)sizeof(*mine), MPI_BYTE, 0,
               MPI_COMM_WORLD);
    if (rank == 0) {
        printf("%s: mdsm statistics of %s\n", ex_name, title);
        printf("  %5s %8s %8s %8s %9s %8s %8s %8s %6s %7s %7s %8s %9s\n", "rank", "rd-fault",
               "wr-fault", "fetched", "fetch-MiB", "diffs", "diff-KiB", "invalid", "evict", "locks",
               "lock-s", "barriers", "barrier-s");
        mdsm_stats_t sum = {0};
        char who[16];
        for (int r = 0; r < nranks; r++) {
            snprintf(who, sizeof(who), "%d", r);
            print_row(who, &all[r]);
            add_stats(&sum, &all[r]);
        }
        print_row("total", &sum);
    }
    free(all);
}

int ex_verdict(int ok, const mdsm_stats_t *stats, const char *title, int quiet)
{
    if (!quiet)
        ex_report_stats(stats, title);
    MPI_Bcast(&ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return ok;
}
