#include "fault/fault.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>

#include "cache/cache.h"
#include "common/error.h"
#include "space/space.h"

static struct sigaction previous;
static int installed;

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
    if (space_contains(si->si_addr) && cache_fault(si->si_addr, is_write_access(uctx))) {
        errno = saved;
        return;
    }
    errno = saved;
    chain(sig, si, uctx);
}

int fault_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, &previous) != 0)
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "sigaction(SIGSEGV): %s", strerror(errno));
    installed = 1;
    return MDSM_OK;
}

void fault_uninstall(void)
{
    if (!installed)
        return;
    /* Put the previous handler back only if nobody replaced ours since. */
    struct sigaction current;
    if (sigaction(SIGSEGV, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO) &&
        current.sa_sigaction == on_segv)
        sigaction(SIGSEGV, &previous, NULL);
    installed = 0;
}
