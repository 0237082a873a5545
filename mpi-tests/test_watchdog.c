/*
 * MDSM_WATCHDOG: a rank blocked in one mdsm call longer than the period says,
 * once, on stderr, what it waits for. The suite runs with MDSM_WATCHDOG=1; one
 * rank keeps another waiting for HOLD_S (3 periods) and the waiting rank's
 * stderr must hold exactly one watchdog line, naming the lock and the rank it
 * queued behind, or the barrier. Coordination outside the watched call uses
 * MPI directly, so that no other mdsm wait can be reported.
 *
 * The page fetch case needs a home that does not serve gets while it
 * computes: only over UCX's TCP transport without the progress thread (the
 * watchdog_tcp suite sets MT_WATCHDOG_TCP); elsewhere it is skipped. There the
 * lock waiter already blocks joining the queue at the sleeping home.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"

#define HOLD_S 3.0
enum { LOCK_ID = 3 };

static const char *const LINE_START = "mdsm: watchdog: rank ";

static int count_lines(const char *text)
{
    int n = 0;
    for (const char *p = strstr(text, LINE_START); p; p = strstr(p + 1, LINE_START))
        n++;
    return n;
}

/* Threads of this process named by the watchdog. */
static int watchdog_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(name, sizeof(name), f) && strncmp(name, "mdsm-watchdog", 13) == 0)
            n++;
        fclose(f);
    }
    closedir(d);
    return n;
}

/* Checks that text is exactly one watchdog line of rank me, ending in tail,
 * and returns what follows "blocked " up to " s " as seconds (-1 if absent). */
static double expect_one_line(const char *text, int me, const char *tail)
{
    int lines = count_lines(text);
    if (lines != 1) {
        mt_fail(__FILE__, __LINE__, "expected one watchdog line on rank %d, saw %d in: '%s'", me,
                lines, text);
        return -1;
    }
    const char *line = strstr(text, LINE_START);
    int rank = -1, used = 0;
    double s = -1;
    if (sscanf(line, "mdsm: watchdog: rank %d blocked %lf s %n", &rank, &s, &used) != 2 ||
        used == 0) {
        mt_fail(__FILE__, __LINE__, "watchdog line does not parse: '%s'", line);
        return -1;
    }
    MT_EXPECT_EQ(rank, me);
    const char *end = strchr(line, '\n');
    size_t rest = end ? (size_t)(end - (line + used)) : strlen(line + used);
    if (rest != strlen(tail) || strncmp(line + used, tail, rest) != 0)
        mt_fail(__FILE__, __LINE__, "watchdog line '%.*s' does not end in '%s'",
                (int)(rest + (size_t)used), line, tail);
    return s;
}

MT_MDSM_TEST(watchdog, lock_wait_names_the_lock_and_the_rank_ahead)
{
    int me = mdsm_rank(), n = mdsm_nranks();
    if (n < 2)
        MT_SKIP("needs two ranks");
    int home = LOCK_ID % n;
    if (me == 1)
        MT_EXPECT_OK(mdsm_lock(LOCK_ID));
    MPI_Barrier(MPI_COMM_WORLD);
    if (me == 1) {
        dc_sleep_until(dc_now() + HOLD_S);
        MT_EXPECT_OK(mdsm_unlock(LOCK_ID));
    } else if (me == 0) {
        mt_stderr_begin();
        int rc = mdsm_lock(LOCK_ID);
        if (rc == MDSM_OK)
            rc = mdsm_unlock(LOCK_ID);
        char *text = mt_stderr_end();
        MT_EXPECT_OK(rc);
        char tail[128];
        if (getenv("MT_WATCHDOG_TCP") && home == 1)
            snprintf(tail, sizeof(tail),
                     "in mdsm_lock(%d): joining its queue at the lock's home, rank 1", LOCK_ID);
        else
            snprintf(tail, sizeof(tail),
                     "in mdsm_lock(%d): queued behind rank 1 (lock homed on rank %d)", LOCK_ID,
                     home);
        double s = expect_one_line(text, 0, tail);
        MT_EXPECT(s < 0 || s >= 1.0); /* never before the period */
        free(text);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

MT_MDSM_TEST(watchdog, barrier_wait_names_the_barrier)
{
    int me = mdsm_rank(), n = mdsm_nranks();
    if (n < 2)
        MT_SKIP("needs two ranks");
    /* Two barriers first: the watched one is the third of this session. */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_barrier());
    MPI_Barrier(MPI_COMM_WORLD);
    int late = n - 1;
    if (me == late) {
        dc_sleep_until(dc_now() + HOLD_S);
        MT_EXPECT_OK(mdsm_barrier());
    } else {
        mt_stderr_begin();
        int rc = mdsm_barrier();
        char *text = mt_stderr_end();
        MT_EXPECT_OK(rc);
        double s = expect_one_line(text, me, "in mdsm_barrier (#3): waiting for the other ranks");
        MT_EXPECT(s < 0 || s >= 1.0);
        free(text);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* The thread starts before mdsm_init's first collective: a rank that waits
 * there for a late one says so. */
MT_TEST(watchdog, init_wait_is_reported)
{
    int me = mt_rank(), n = mt_nranks();
    if (n < 2)
        MT_SKIP("needs two ranks");
    if (me == n - 1) {
        dc_sleep_until(dc_now() + HOLD_S);
        MT_EXPECT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    } else {
        mt_stderr_begin();
        int rc = mdsm_init(MPI_COMM_WORLD, NULL);
        char *text = mt_stderr_end();
        MT_EXPECT_OK(rc);
        double s = expect_one_line(text, me, "in mdsm_init: waiting for the other ranks");
        MT_EXPECT(s < 0 || s >= 1.0);
        free(text);
    }
    if (mdsm_initialized())
        MT_EXPECT_OK(mdsm_finalize());
}

/* On: one thread, named, joined by mdsm_finalize. */
MT_TEST(watchdog, on_runs_one_thread_until_finalize)
{
    MT_ASSERT_EQ(watchdog_threads(), 0);
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    MT_EXPECT_EQ(watchdog_threads(), 1);
    MT_EXPECT_OK(mdsm_finalize());
    MT_EXPECT_EQ(watchdog_threads(), 0);
}

/* The setting is per rank: rank 0 turns it off and, kept waiting on a lock
 * for 3 periods, prints nothing and starts no thread; rank 1 keeps it on. */
MT_TEST(watchdog, off_prints_nothing_and_starts_no_thread)
{
    int me = mt_rank(), n = mt_nranks();
    const char *was = getenv("MDSM_WATCHDOG");
    char saved[32] = "";
    if (was)
        snprintf(saved, sizeof(saved), "%s", was);
    if (me == 0)
        setenv("MDSM_WATCHDOG", "0", 1);
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    MT_EXPECT_OK(rc);
    if (rc == MDSM_OK) {
        MT_EXPECT_EQ(watchdog_threads(), me == 0 ? 0 : 1);
        if (me == 1)
            MT_EXPECT_OK(mdsm_lock(LOCK_ID));
        MPI_Barrier(MPI_COMM_WORLD);
        if (me == 1) {
            dc_sleep_until(dc_now() + HOLD_S);
            MT_EXPECT_OK(mdsm_unlock(LOCK_ID));
        } else if (me == 0 && n > 1) {
            mt_stderr_begin();
            int lrc = mdsm_lock(LOCK_ID);
            if (lrc == MDSM_OK)
                lrc = mdsm_unlock(LOCK_ID);
            char *text = mt_stderr_end();
            MT_EXPECT_OK(lrc);
            if (strstr(text, "watchdog"))
                mt_fail(__FILE__, __LINE__, "MDSM_WATCHDOG=0 printed: '%s'", text);
            free(text);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        MT_EXPECT_OK(mdsm_finalize());
    }
    if (was)
        setenv("MDSM_WATCHDOG", saved, 1);
    else
        unsetenv("MDSM_WATCHDOG");
}

/* Rank 1 faults on a page homed on rank 0 while rank 0 sleeps outside MPI. */
MT_MDSM_TEST(watchdog, fetch_wait_names_the_page_and_its_home)
{
    int me = mdsm_rank(), n = mdsm_nranks();
    if (n < 2 || !getenv("MT_WATCHDOG_TCP"))
        MT_SKIP("a fetch blocks only when the home must progress it (watchdog_tcp suite)");
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    volatile uint8_t *a = mdsm_alloc((size_t)n * (size_t)ps); /* block: page 0 is rank 0's */
    MT_ASSERT(a != NULL);
    MT_ASSERT_EQ(mdsm_home_of((const void *)a), 0);
    if (me == 0)
        a[100] = 0x5a;
    MT_EXPECT_OK(mdsm_barrier());
    MPI_Barrier(MPI_COMM_WORLD);
    /* UCX may still serve the get from a thread of its own now and then: a
     * fetch that took under two periods is judged only by its silence. */
    int blocked = 0;
    if (me == 0) {
        dc_sleep_until(dc_now() + HOLD_S); /* no MPI: the get waits for us */
    } else if (me == 1) {
        mt_stderr_begin();
        double t0 = dc_now();
        uint8_t v = a[100];
        double took = dc_now() - t0;
        char *text = mt_stderr_end();
        MT_EXPECT_EQ(v, 0x5a);
        blocked = took >= 2.0;
        const char *at = strstr(text, "on a read fault at ");
        void *addr = NULL;
        unsigned long long page = 0;
        int home = -1;
        char tail[160];
        if (took < 1.0 && count_lines(text) != 0)
            mt_fail(__FILE__, __LINE__, "a %.3f s fetch was reported: '%s'", took, text);
        if (!blocked) {
            /* judged above */
        } else if (at && sscanf(at, "on a read fault at %p: fetching page %llu from home rank %d",
                                &addr, &page, &home) == 3) {
            MT_EXPECT(addr == (void *)(a + 100));
            MT_EXPECT_EQ(home, 0);
            snprintf(tail, sizeof(tail),
                     "on a read fault at %p: fetching page %llu from home rank 0",
                     (void *)(a + 100), page);
            double s = expect_one_line(text, 1, tail);
            MT_EXPECT(s < 0 || s >= 1.0);
        } else {
            mt_fail(__FILE__, __LINE__, "no report of a %.1f s fetch on rank 1 in: '%s'", took,
                    text);
        }
        free(text);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Bcast(&blocked, 1, MPI_INT, 1, MPI_COMM_WORLD);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)a));
    if (!blocked)
        MT_SKIP("the fetch did not wait for its home this time (served without its progress)");
}

struct unblock {
    void *page;
    size_t len;
};

static void *restore_after_hold(void *arg)
{
    struct unblock *u = arg;
    dc_sleep_until(dc_now() + HOLD_S);
    mprotect(u->page, u->len, PROT_READ | PROT_WRITE);
    return NULL;
}

/* An access the handler cannot resolve: the test itself makes a page the
 * cache holds writable (home dirty) read-only, so the write faults again and
 * again; a helper thread gives it back after 3 periods. The rank publishes no
 * wait meanwhile, and must still say where it spins. */
MT_MDSM_TEST(watchdog, endless_fault_names_the_address)
{
    int me = mdsm_rank(), n = mdsm_nranks();
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    volatile uint8_t *a = mdsm_alloc((size_t)n * (size_t)ps); /* block: page r is rank r's */
    MT_ASSERT(a != NULL);
    volatile uint8_t *mine = a + (size_t)me * (size_t)ps;
    MT_EXPECT_EQ(mdsm_home_of((const void *)mine), me);
    MPI_Barrier(MPI_COMM_WORLD);
    if (me == 0) {
        mine[8] = 1; /* home dirty (open for good when untracked): read-write */
        struct unblock u = {(void *)mine, (size_t)ps};
        pthread_t t;
        mt_stderr_begin();
        int started = mprotect(u.page, u.len, PROT_READ) == 0 &&
                      pthread_create(&t, NULL, restore_after_hold, &u) == 0;
        if (!started)
            mprotect(u.page, u.len, PROT_READ | PROT_WRITE);
        mine[16] = 2; /* faults until the helper restores the page */
        if (started)
            pthread_join(t, NULL);
        char *text = mt_stderr_end();
        MT_EXPECT(started);
        MT_EXPECT_EQ(mine[16], 2);
        if (count_lines(text) != 1)
            mt_fail(__FILE__, __LINE__, "expected one watchdog line on rank 0, saw %d in: '%s'",
                    count_lines(text), text);
        const char *at = strstr(text, "faulting without end: ");
        unsigned long long faults = 0;
        double s = 0;
        void *addr = NULL;
        int used = 0;
        if (at &&
            sscanf(at,
                   "faulting without end: %llu faults in %lf s that left the page as it "
                   "was, the last at %p (page home %*[a-z])%n",
                   &faults, &s, &addr, &used) == 3 &&
            used > 0) {
            MT_EXPECT(addr == (void *)(mine + 16));
            MT_EXPECT_GE(faults, 1000);
            MT_EXPECT(s >= 1.0);
        } else {
            mt_fail(__FILE__, __LINE__, "no endless fault report on rank 0 in: '%s'", text);
        }
        free(text);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(a[16], 2); /* the write went home once resolved */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)a));
}
