/*
 * Helpers shared by the DSM test suites: a deterministic PRNG that every rank
 * can replay (splitmix64), clocks and sleeps that make no MPI or mdsm call,
 * bounded waits, and a tally that reports the first few mismatches of a check
 * in full and then only counts the rest.
 */
#ifndef DSM_CHECK_H
#define DSM_CHECK_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "mt.h"

/* ---- Deterministic randomness ------------------------------------------------ */

static inline uint64_t dc_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64: the same state gives the same sequence on every rank. */
static inline uint64_t dc_next(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ULL;
    return dc_mix64(*state);
}

/* Uniform in [0, bound) (bound > 0); the tiny modulo bias does not matter here. */
static inline uint64_t dc_below(uint64_t *state, uint64_t bound)
{
    return dc_next(state) % bound;
}

static inline uint64_t dc_hash3(uint64_t a, uint64_t b, uint64_t c)
{
    return dc_mix64(a ^ dc_mix64(b ^ dc_mix64(c + 0x9e3779b97f4a7c15ULL)));
}

/* ---- Time, without MPI or mdsm ---------------------------------------------- */

static inline double dc_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps (does not spin) until the monotonic clock reaches t. */
static inline void dc_sleep_until(double t)
{
    for (;;) {
        double left = t - dc_now();
        if (left <= 0)
            return;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        if (nanosleep(&ts, NULL) != 0 && errno != EINTR)
            return;
    }
}

/* Seconds any single wait in a test may take before the test gives up on it:
 * far above what a healthy run needs, far below the harness's MT_TIMEOUT. */
#define DC_WAIT_LIMIT_S 30.0

/* The space in force (MDSM_SPACE_SIZE, e.g. "1G") in bytes; 0 if unreadable. */
static inline unsigned long long dc_space_bytes(void)
{
    for (int i = 0; i < mdsm_config_num_vars(); i++) {
        mdsm_config_var_t v;
        if (mdsm_config_var(i, &v) != MDSM_OK || strcmp(v.name, "MDSM_SPACE_SIZE") != 0)
            continue;
        char *end;
        unsigned long long size = strtoull(v.value, &end, 10);
        const char *units = "KMGT", *u = *end ? strchr(units, *end) : NULL;
        return size << (u ? 10 * (u - units + 1) : 0);
    }
    return 0;
}

/* Polls the mdsm atomic at flag until it reads at least want, for at most
 * DC_WAIT_LIMIT_S; returns the last value read (the caller checks it). */
static inline int64_t dc_wait_flag(int64_t *flag, int64_t want)
{
    int64_t f = INT64_MIN;
    double deadline = dc_now() + DC_WAIT_LIMIT_S;
    while (f < want && dc_now() < deadline)
        MT_EXPECT_OK(mdsm_fetch_add(flag, 0, &f));
    return f;
}

/* ---- Mismatch tally ------------------------------------------------------------ */

#define DC_REPORT_FIRST 4

/* One tally may be shared by the threads of a rank: bad is counted atomically. */
struct dc_tally {
    long bad;
};

static inline void dc_mismatch_(struct dc_tally *t, const char *file, int line, const char *fmt,
                                ...) __attribute__((format(printf, 4, 5)));
static inline void dc_mismatch_(struct dc_tally *t, const char *file, int line, const char *fmt,
                                ...)
{
    if (__atomic_fetch_add(&t->bad, 1, __ATOMIC_RELAXED) >= DC_REPORT_FIRST)
        return;
    char text[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    mt_fail(file, line, "%s", text);
}

/* Records one mismatch; only the first DC_REPORT_FIRST are printed. */
#define DC_MISMATCH(tally, ...) dc_mismatch_((tally), __FILE__, __LINE__, __VA_ARGS__)

/* Reports how many mismatches went unprinted, naming the check. */
#define DC_TALLY_END(tally, what)                                                                  \
    do {                                                                                           \
        if ((tally)->bad > DC_REPORT_FIRST)                                                        \
            mt_fail(__FILE__, __LINE__, "%s: %ld mismatches in all (first %d shown)", (what),      \
                    (tally)->bad, DC_REPORT_FIRST);                                                \
    } while (0)

/* ---- Child processes ------------------------------------------------------------- */

#define DC_CHILD_LIMIT_S 10.0

/* Waits for child pid within DC_CHILD_LIMIT_S (then kills it and fails the
 * test); returns its wait status, or -1. what names the child in messages. */
static inline int dc_wait_child(pid_t pid, const char *what)
{
    int status = 0;
    double deadline = dc_now() + DC_CHILD_LIMIT_S;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0) {
            mt_fail(__FILE__, __LINE__, "waitpid for %s failed", what);
            return -1;
        }
        if (dc_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            mt_fail(__FILE__, __LINE__, "%s did not end within %.0f s (killed)", what,
                    DC_CHILD_LIMIT_S);
            return -1;
        }
        dc_sleep_until(dc_now() + 0.005);
    }
}

/* ---- Small helpers ---------------------------------------------------------------- */

/* Home rank of addr for messages (a negative status if it is not global). */
static inline int dc_home(const volatile void *addr)
{
    return mdsm_home_of((const void *)addr);
}

/* 1 on every rank if cond holds on every rank of MPI_COMM_WORLD, else 0 everywhere:
 * lets a test decide a branch that contains collectives on all ranks alike. */
static inline int dc_all(int cond)
{
    int mine = cond ? 1 : 0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

#endif
