/* Helpers shared by the examples: starting and stopping mdsm with a clear
 * message on failure, strict option parsing, and one statistics table so that
 * every example reports mdsm's counters the same way. */
#ifndef MDSM_EXAMPLE_H
#define MDSM_EXAMPLE_H

#include <stddef.h>

#include "mdsm.h"

/* mdsm_init on MPI_COMM_WORLD; name prefixes every message of the program.
 * Returns 0, or prints why and returns -1. */
int ex_init(const char *name);

/* mdsm_finalize; returns the process exit code: 0 if ok and finalize
 * succeeded, 1 otherwise. */
int ex_finalize(int ok);

/* For a bad command line: rank 0 prints "usage: " and the formatted text;
 * then mdsm_finalize. Returns the exit code for it, 2. Collective. */
int ex_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Aborts the whole job with a message naming what failed, unless rc is MDSM_OK. */
void ex_check(int rc, const char *what);

/* mdsm_alloc that aborts the job on failure. Collective. */
void *ex_alloc(size_t bytes);

/* Zero-filled private memory; aborts the job when there is none. */
void *ex_private(size_t bytes);

/* Parses a whole decimal number in [lo, hi]; returns 0 on success. */
int ex_parse_long(const char *s, long lo, long hi, long *out);

/* Collective: the largest of the ranks' values, on rank 0 (others get theirs). */
double ex_max_over_ranks(double mine);

/* Collective: gathers every rank's counters on rank 0, which prints them as
 * one table under the given title, with a total row. */
void ex_report_stats(const mdsm_stats_t *mine, const char *title);

/* Collective, at the end of a run: prints the statistics table (unless quiet)
 * and returns rank 0's verdict ok on every rank. */
int ex_verdict(int ok, const mdsm_stats_t *stats, const char *title, int quiet);

#endif
