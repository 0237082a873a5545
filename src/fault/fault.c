#include "fault/fault.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cache/cache.h"
#include "common/error.h"
#include "common/lifecycle.h"
#include "common/log.h"
#include "space/space.h"

static struct sigaction previous;
static int installed;          /* on_segv is (or was last) installed by us */
static int session;            /* faults in the space are served (between install and retire) */
static int warned;             /* the replaced-handler warning was given this session */
static uint64_t last_check_ns; /* CLOCK_MONOTONIC_COARSE of the last handler query */
/* mdsm_handle_fault was called: the handler in place passes faults on. */
static volatile sig_atomic_t external_calls;
/* Each kind of misuse is reported once, even if a chained handler returns. */
static volatile sig_atomic_t said_forked, said_finalized, said_unmapped;

/* x86-64 reports whether the access was a write; elsewhere a write to a page
 * fetched read-only simply faults a second time. */
static int is_write_access(void *uctx)
{
#if defined(__x86_64__)
    const ucontext_t *uc = uctx;
    return (uc->uc_mcontext.gregs[REG_ERR] & 2) != 0;
#else
    (void)uctx;
    return 0;
#endif
}

/* One line on stderr with write(2): "mdsm: <head><addr><tail>". Async-signal-safe. */
static void say(volatile sig_atomic_t *once, const char *head, const void *addr, const char *tail)
{
    if (*once)
        return;
    *once = 1;
    char buf[320], *p = buf, *end = buf + sizeof(buf) - 1;
    for (const char *s = "mdsm: "; *s && p < end; s++)
        *p++ = *s;
    for (const char *s = head; *s && p < end; s++)
        *p++ = *s;
    char hex[2 + 16];
    uintptr_t v = (uintptr_t)addr;
    int n = 0;
    do {
        hex[sizeof(hex) - 1 - n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v && n < 16);
    hex[sizeof(hex) - 1 - n++] = 'x';
    hex[sizeof(hex) - 1 - n++] = '0';
    for (int i = (int)sizeof(hex) - n; i < (int)sizeof(hex) && p < end; i++)
        *p++ = hex[i];
    for (const char *s = tail; *s && p < end; s++)
        *p++ = *s;
    *p++ = '\n';
    ssize_t w = write(STDERR_FILENO, buf, (size_t)(p - buf));
    (void)w;
}

/* 1 when the fault at addr was mdsm's and has been served; otherwise 0, after
 * naming the misuse when addr is (or was) mdsm memory. */
static int serve(void *addr, int code, void *uctx)
{
    if (mdsm_life.forked) {
        if (space_contains(addr) || space_former_contains(addr))
            say(&said_forked, "a process forked after mdsm_init accessed mdsm global memory at ",
                addr, "; only the parent may");
        return 0;
    }
    if (session && space_contains(addr)) {
        /* The whole range is always mapped (reserved at least): only the
         * application can have unmapped part of it. */
        if (code == SEGV_MAPERR) {
            say(&said_unmapped, "mdsm memory at ", addr,
                " was unmapped by the application (munmap of an mdsm allocation?)");
            return 0;
        }
        return cache_fault(addr, is_write_access(uctx));
    }
    if (space_contains(addr) || space_former_contains(addr))
        say(&said_finalized, "", addr, " is mdsm global memory used after mdsm_finalize");
    return 0;
}

static void chain(int sig, siginfo_t *si, void *uctx)
{
    /* sa_handler and sa_sigaction share storage: test for the special values first. */
    if (previous.sa_handler == SIG_DFL || previous.sa_handler == SIG_IGN) {
        /* Default action: restore it; returning re-runs the access, which
         * kills the process with SIGSEGV as it would have without mdsm. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof(dfl));
        dfl.sa_handler = SIG_DFL;
        sigaction(sig, &dfl, NULL);
        return;
    }
    if (previous.sa_flags & SA_SIGINFO)
        previous.sa_sigaction(sig, si, uctx);
    else
        previous.sa_handler(sig);
}

static void on_segv(int sig, siginfo_t *si, void *uctx)
{
    int saved = errno;
    int served = serve(si->si_addr, si->si_code, uctx);
    errno = saved;
    if (!served)
        chain(sig, si, uctx);
}

int mdsm_handle_fault(int sig, mdsm_siginfo_t *info, void *ucontext)
{
    const siginfo_t *si = info;
    if (sig != SIGSEGV || !si)
        return 0;
    external_calls = 1;
    int saved = errno;
    int served = serve(si->si_addr, si->si_code, ucontext);
    errno = saved;
    return served;
}

static int is_ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_segv;
}

int fault_install(void)
{
    struct sigaction sa, current;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    /* Still ours from the last session: keep the handler we chain to. */
    struct sigaction *keep =
        installed && sigaction(SIGSEGV, NULL, &current) == 0 && is_ours(&current) ? &current
                                                                                  : &previous;
    if (sigaction(SIGSEGV, &sa, keep) != 0)
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "sigaction(SIGSEGV): %s", strerror(errno));
    installed = 1;
    session = 1;
    warned = 0;
    __atomic_store_n(&last_check_ns, 0, __ATOMIC_RELAXED); /* the session's first call checks */
    external_calls = 0;
    said_unmapped = 0;
    said_finalized = 0;
    return MDSM_OK;
}

void fault_uninstall(void)
{
    session = 0;
    if (!installed)
        return;
    /* Put the previous handler back only if nobody replaced ours since. */
    struct sigaction current;
    if (sigaction(SIGSEGV, NULL, &current) == 0 && is_ours(&current))
        sigaction(SIGSEGV, &previous, NULL);
    installed = 0;
}

void fault_retire(void)
{
    session = 0;
}

/* A retired handler must not outlive the library (dlclose); a live session's
 * stays, so that other threads' faults during exit are still served. */
__attribute__((destructor)) static void fault_unload(void)
{
    if (!session)
        fault_uninstall();
}

static void describe(const struct sigaction *sa, char *buf, size_t len)
{
    if (!(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_DFL)
        snprintf(buf, len, "SIG_DFL");
    else if (!(sa->sa_flags & SA_SIGINFO) && sa->sa_handler == SIG_IGN)
        snprintf(buf, len, "SIG_IGN");
    else if (sa->sa_flags & SA_SIGINFO)
        snprintf(buf, len, "handler %p", (void *)(uintptr_t)sa->sa_sigaction);
    else
        snprintf(buf, len, "handler %p", (void *)(uintptr_t)sa->sa_handler);
}

void fault_check_handler(int always)
{
    if (!session || warned || external_calls)
        return;
    if (!always) {
        struct timespec ts; /* the coarse clock is read without a system call */
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        uint64_t t = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        uint64_t last = __atomic_load_n(&last_check_ns, __ATOMIC_RELAXED);
        if (last && t - last < FAULT_CHECK_PERIOD_MS * 1000000u)
            return;
        __atomic_store_n(&last_check_ns, t, __ATOMIC_RELAXED);
    }
    struct sigaction current;
    if (sigaction(SIGSEGV, NULL, &current) != 0 || is_ours(&current))
        return;
    warned = 1;
    char what[64];
    describe(&current, what, sizeof(what));
    MDSM_WARN("the SIGSEGV handler was replaced after mdsm_init (now %s): mdsm's page faults go "
              "to it and are not served unless it first calls mdsm_handle_fault(sig, info, "
              "ucontext) and returns when that returns nonzero (see mdsm.h)",
              what);
}
