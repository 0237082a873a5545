/* Misuse around the session: a fork after mdsm_init, a SIGSEGV handler
 * installed after mdsm_init, calls after mdsm_finalize. (Crashes that end the
 * process are checked by progs/misuse_probe.c.) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* ---- fork after mdsm_init ----------------------------------------------------------------- */

/* Reads what the child wrote into fd until it closes it. */
static size_t read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    while (n + 1 < size) {
        ssize_t r = read(fd, buf + n, size - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    return n;
}

struct child_report {
    int codes[24];
    int initialized;
    char message[200];
};

/* In the child: every session call fails with MDSM_ERR_FORKED, without MPI. */
static void child_calls(volatile int64_t *cell, int fd)
{
    struct child_report r;
    memset(&r, 0, sizeof(r));
    int i = 0;
    int64_t old = 0;
    mdsm_stats_t st;
    r.codes[i++] = mdsm_barrier();
    snprintf(r.message, sizeof(r.message), "%s", mdsm_last_error_message());
    r.codes[i++] = mdsm_lock(0);
    r.codes[i++] = mdsm_unlock(0);
    r.codes[i++] = mdsm_acquire();
    r.codes[i++] = mdsm_release();
    r.codes[i++] = mdsm_rank();
    r.codes[i++] = mdsm_nranks();
    r.codes[i++] = (int)mdsm_page_size();
    r.codes[i++] = mdsm_num_locks();
    r.codes[i++] = mdsm_home_of((const void *)cell);
    r.codes[i++] = mdsm_fetch_add((int64_t *)cell, 1, &old);
    r.codes[i++] = mdsm_cas((int64_t *)cell, 0, 1, &old);
    r.codes[i++] = mdsm_alloc(4096) ? 0 : mdsm_last_error();
    r.codes[i++] = mdsm_free((void *)cell);
    r.codes[i++] = mdsm_stats_get(&st);
    r.codes[i++] = mdsm_stats_reset();
    r.codes[i++] = mdsm_finalize();
    r.codes[i++] = mdsm_init(MPI_COMM_WORLD, NULL);
    r.initialized = mdsm_initialized();
    ssize_t w = write(fd, &r, sizeof(r));
    _exit(w == (ssize_t)sizeof(r) ? 0 : 3);
}

/* In the child: a store to global memory, which must kill the child. */
static void child_store(volatile int64_t *cell, int fd)
{
    dup2(fd, STDERR_FILENO);
    *cell = 666;
    _exit(97); /* reached only if the store did not fault */
}

static pid_t spawn(void (*body)(volatile int64_t *, int), volatile int64_t *cell, int *read_end)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        body(cell, fds[1]);
    }
    close(fds[1]);
    *read_end = fds[0];
    return pid;
}

MT_MDSM_TEST(misuse, forked_child_gets_errors_and_never_reaches_global_memory)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t stride = (size_t)mdsm_page_size() / sizeof(int64_t);
    volatile int64_t *x = mdsm_alloc((size_t)n * stride * sizeof(int64_t));
    MT_ASSERT(x != NULL);
    volatile int64_t *mine = &x[(size_t)me * stride];             /* homed here: a shared mapping */
    volatile int64_t *next = &x[(size_t)((me + 1) % n) * stride]; /* cached when remote */
    *mine = 100 + me;
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(*next, 100 + (me + 1) % n);
    *next = 100 + (me + 1) % n; /* a dirty copy (a twin) when remote */

    int fd = -1;
    pid_t pid = spawn(child_calls, mine, &fd);
    MT_EXPECT(pid > 0);
    if (pid > 0) {
        struct child_report r;
        memset(&r, 0, sizeof(r));
        size_t got = 0;
        char *buf = (char *)&r;
        while (got < sizeof(r)) {
            ssize_t k = read(fd, buf + got, sizeof(r) - got);
            if (k <= 0)
                break;
            got += (size_t)k;
        }
        close(fd);
        int status = dc_wait_child(pid, "the child making mdsm calls");
        MT_EXPECT(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        MT_EXPECT_EQ(got, sizeof(r));
        for (int i = 0; i < 18; i++)
            if (r.codes[i] != MDSM_ERR_FORKED)
                mt_fail(__FILE__, __LINE__,
                        "call %d in the child returned %d (%s), expected "
                        "MDSM_ERR_FORKED",
                        i, r.codes[i], mdsm_strerror(r.codes[i]));
        MT_EXPECT_EQ(r.initialized, 0);
        if (!strstr(r.message, "mdsm_barrier called in a process forked after mdsm_init"))
            mt_fail(__FILE__, __LINE__, "the child's message was '%s'", r.message);
    }

    /* Stores to a home page and to a cached page, each in a child of its own. */
    volatile int64_t *targets[2] = {mine, next};
    for (int t = 0; t < 2; t++) {
        pid = spawn(child_store, targets[t], &fd);
        MT_EXPECT(pid > 0);
        if (pid <= 0)
            continue;
        char printed[4096];
        read_all(fd, printed, sizeof(printed));
        close(fd);
        int status = dc_wait_child(pid, "the child storing to global memory");
        if (!UNDER_ASAN && !(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV))
            mt_fail(__FILE__, __LINE__,
                    "the child storing to global memory ended with status "
                    "%#x, expected SIGSEGV",
                    status);
        if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 97)
            mt_fail(__FILE__, __LINE__, "the child's store to global memory did not fault");
        char want[160];
        snprintf(want, sizeof(want),
                 "mdsm: a process forked after mdsm_init accessed mdsm global memory at %p; "
                 "only the parent may",
                 (void *)targets[t]);
        if (!strstr(printed, want))
            mt_fail(__FILE__, __LINE__, "the child printed '%s', expected '%s'", printed, want);
    }

    /* The children reached nothing: the parent and every other rank see the old values. */
    MT_EXPECT_EQ(*mine, 100 + me);
    MT_EXPECT_OK(mdsm_barrier());
    for (int q = 0; q < n; q++)
        MT_EXPECT_EQ(x[(size_t)q * stride], 100 + q);
    MT_EXPECT_OK(mdsm_barrier()); /* everyone has read before x[0] changes */
    /* And the parent's session works on. */
    int64_t old = -1;
    MT_EXPECT_OK(mdsm_fetch_add((int64_t *)&x[0], 1, &old));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(x[0], 100 + n); /* one increment per rank */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)x));
}

/* ---- after mdsm_finalize -------------------------------------------------------------------- */

MT_TEST(misuse, calls_after_finalize_name_finalize)
{
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    MT_ASSERT_OK(mdsm_finalize());
    MT_EXPECT_RC(mdsm_barrier(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_barrier called after mdsm_finalize") == 0);
    MT_EXPECT_RC(mdsm_finalize(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_finalize called after mdsm_finalize") == 0);
    MT_EXPECT(mdsm_alloc(64) == NULL);
    MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_alloc called after mdsm_finalize") == 0);
    /* Sessions come and go: each one's memory works, each end is named. */
    for (int round = 0; round < 3; round++) {
        MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
        int n = mdsm_nranks(), me = mdsm_rank();
        size_t stride = (size_t)mdsm_page_size() / sizeof(int);
        volatile int *x = mdsm_alloc((size_t)n * stride * sizeof(int));
        MT_ASSERT(x != NULL);
        x[(size_t)me * stride] = round * 10 + me;
        MT_EXPECT_OK(mdsm_barrier());
        for (int q = 0; q < n; q++)
            MT_EXPECT_EQ(x[(size_t)q * stride], round * 10 + q);
        MT_EXPECT_OK(mdsm_barrier());
        MT_ASSERT_OK(mdsm_finalize());
        MT_EXPECT_RC(mdsm_rank(), MDSM_ERR_NOT_INITIALIZED);
        MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_rank called after mdsm_finalize") == 0);
    }
}

/* ---- SIGSEGV handlers installed after mdsm_init -----------------------------------------------
 */

static struct sigaction mdsm_handler; /* what was installed when the test began: mdsm's */
static volatile sig_atomic_t app_calls, app_served;

/* A well-behaved application handler: mdsm first, then its own business. */
static void chaining_handler(int sig, siginfo_t *info, void *uctx)
{
    app_calls++;
    if (mdsm_handle_fault(sig, info, uctx)) {
        app_served++;
        return;
    }
    /* Not mdsm's: what the application did before (here: mdsm's, which chains on). */
    mdsm_handler.sa_sigaction(sig, info, uctx);
}

static void ignoring_handler(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)info;
    (void)uctx;
    app_calls++;
}

static int install(void (*fn)(int, siginfo_t *, void *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = fn;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGSEGV, &sa, &mdsm_handler);
}

static int count(const char *text, const char *what)
{
    int k = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what))
        k++;
    return k;
}

static void chaining_handler_body(void);

/* The handler must see mdsm's faults: where every rank shares one node, home
 * pages are open for good and nothing faults, so this session keeps node
 * sharing off (others' pages then fault on first read and first write; a
 * rank's own pages fault only once another rank has fetched them, so a rank
 * alone never faults). */
MT_TEST(misuse, handler_installed_after_init_that_calls_mdsm_handle_fault)
{
    const char *was = getenv("MDSM_NODE_SHARING");
    char *saved = was ? strdup(was) : NULL;
    setenv("MDSM_NODE_SHARING", "off", 1);
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    if (saved)
        setenv("MDSM_NODE_SHARING", saved, 1);
    else
        unsetenv("MDSM_NODE_SHARING");
    free(saved);
    MT_ASSERT_OK(rc);
    chaining_handler_body();
    MT_EXPECT_OK(mdsm_finalize());
}

static void chaining_handler_body(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t stride = (size_t)mdsm_page_size() / sizeof(int);
    volatile int *x = mdsm_alloc(2 * (size_t)n * stride * sizeof(int));
    MT_ASSERT(x != NULL);
    app_calls = app_served = 0;
    MT_ASSERT(install(chaining_handler) == 0);
    /* Faults before the next mdsm call: reads of others' pages (own pages nobody
     * fetched yet take writes without a fault). */
    x[(size_t)me * stride] = 500 + me;
    x[(size_t)(n + me) * stride] = 600 + me;
    mt_stderr_begin();
    int rc = mdsm_barrier();
    for (int q = 0; q < n; q++) {
        MT_EXPECT_EQ(x[(size_t)q * stride], 500 + q);
        MT_EXPECT_EQ(x[(size_t)(n + q) * stride], 600 + q);
    }
    MT_EXPECT_OK(mdsm_barrier());
    x[(size_t)((me + 1) % n) * stride] += 1000; /* a write to a page cached from elsewhere */
    MT_EXPECT_OK(mdsm_barrier());
    char *printed = mt_stderr_end();
    MT_EXPECT_OK(rc);
    MT_EXPECT(sigaction(SIGSEGV, &mdsm_handler, NULL) == 0);
    for (int q = 0; q < n; q++)
        MT_EXPECT_EQ(x[(size_t)q * stride], 1500 + q);
    /* A rank alone never faults (its pages are plain memory), so no fault ever
     * shows mdsm that the handler passes them on, and it warns as for one
     * that does not. */
    int warned = strstr(printed, "SIGSEGV handler was replaced") != NULL;
    if (warned != (n == 1))
        mt_fail(__FILE__, __LINE__, "mdsm %s about a handler that passes faults on: '%s'",
                warned ? "warned" : "did not warn", printed);
    free(printed);
    if (n > 1)
        MT_EXPECT_GE(app_served, 2);
    else
        MT_EXPECT_EQ(app_served, 0);
    MT_EXPECT_EQ(app_calls, app_served);

    /* Faults that are not mdsm's are left to the caller. */
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = SIGSEGV;
    si.si_addr = (void *)16;
    MT_EXPECT_EQ(mdsm_handle_fault(SIGSEGV, &si, NULL), 0);
    si.si_addr = (void *)&n;
    MT_EXPECT_EQ(mdsm_handle_fault(SIGSEGV, &si, NULL), 0);
    MT_EXPECT_EQ(mdsm_handle_fault(SIGBUS, &si, NULL), 0);
    MT_EXPECT_EQ(mdsm_handle_fault(SIGSEGV, NULL, NULL), 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)x));
}

/* Non-collective calls query the handler at most once per 10 ms (no system
 * call per lock pair), yet they alone still notice a replaced one. */
MT_MDSM_TEST(misuse, handler_replaced_is_noticed_by_lock_pairs_alone)
{
    int me = mdsm_rank();
    MT_ASSERT_OK(mdsm_lock(me)); /* a query now: the next one is due in 10 ms */
    MT_ASSERT_OK(mdsm_unlock(me));
    app_calls = 0;
    MT_ASSERT(install(ignoring_handler) == 0);
    /* No DSM access while it is installed: it would loop on the fault. */
    mt_stderr_begin();
    int rc = MDSM_OK, pairs = 0;
    double t0 = MPI_Wtime();
    while (rc == MDSM_OK && MPI_Wtime() - t0 < 0.1) {
        rc = mdsm_lock(me);
        if (rc == MDSM_OK)
            rc = mdsm_unlock(me);
        pairs++;
    }
    char *printed = mt_stderr_end();
    MT_EXPECT(sigaction(SIGSEGV, &mdsm_handler, NULL) == 0);
    MT_EXPECT_OK(rc);
    MT_EXPECT_GE(pairs, 2);
    const char *want = "the SIGSEGV handler was replaced after mdsm_init";
    if (count(printed, want) != 1)
        mt_fail(__FILE__, __LINE__, "expected one warning from %d lock pairs, got '%s'", pairs,
                printed);
    free(printed);
    MT_EXPECT_EQ(app_calls, 0);
    MT_EXPECT_OK(mdsm_barrier());
}

MT_MDSM_TEST(misuse, handler_installed_after_init_that_ignores_mdsm_is_warned_once)
{
    app_calls = 0;
    MT_ASSERT(install(ignoring_handler) == 0);
    /* No DSM access while it is installed: it would loop on the fault. */
    mt_stderr_begin();
    int rc1 = mdsm_barrier(), rc2 = mdsm_rank(), rc3 = mdsm_barrier();
    char *printed = mt_stderr_end();
    MT_EXPECT(sigaction(SIGSEGV, &mdsm_handler, NULL) == 0);
    MT_EXPECT_OK(rc1);
    MT_EXPECT_EQ(rc2, mt_rank());
    MT_EXPECT_OK(rc3);
    const char *want = "the SIGSEGV handler was replaced after mdsm_init";
    if (count(printed, want) != 1 || !strstr(printed, "mdsm_handle_fault(sig, info, ucontext)"))
        mt_fail(__FILE__, __LINE__, "expected one warning naming mdsm_handle_fault, got '%s'",
                printed);
    free(printed);
    MT_EXPECT_EQ(app_calls, 0);

    /* With mdsm's handler back, memory works and nothing more is said. */
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t stride = (size_t)mdsm_page_size() / sizeof(int);
    mt_stderr_begin();
    volatile int *x = mdsm_alloc((size_t)n * stride * sizeof(int));
    if (x)
        x[(size_t)me * stride] = 700 + me;
    rc1 = mdsm_barrier();
    printed = mt_stderr_end();
    MT_ASSERT(x != NULL);
    MT_EXPECT_OK(rc1);
    for (int q = 0; q < n; q++)
        MT_EXPECT_EQ(x[(size_t)q * stride], 700 + q);
    MT_EXPECT(printed[0] == '\0');
    free(printed);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)x));
}
