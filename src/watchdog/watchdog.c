#include "watchdog/watchdog.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "stats/stats.h"

struct wd_slot wd_slots[WD_THREADS][2];
__thread struct wd_slot *wd_own __attribute__((tls_model("initial-exec")));
static unsigned wd_threads; /* pairs handed out */
struct wd_retries wd_retries;

struct wd_slot *wd_register(void)
{
    unsigned k = __atomic_fetch_add(&wd_threads, 1, __ATOMIC_RELAXED);
    if (k >= WD_THREADS) {
        k = WD_THREADS - 1;
        __atomic_store_n(&wd_threads, WD_THREADS, __ATOMIC_RELAXED);
    } else {
        __atomic_store_n(&wd_slots[k][0].seq, 1, __ATOMIC_RELEASE);
        __atomic_store_n(&wd_slots[k][1].seq, 1, __ATOMIC_RELEASE);
    }
    wd_own = wd_slots[k];
    return wd_own;
}

/* Retried faults in a row that make a storm: far more than threads racing
 * on one page ever produce. */
#define STORM_MIN 1000

/* What the thread knows of one slot between samples. */
struct tracker {
    struct wd_slot *slot;
    uint64_t seq;      /* the wait last seen, 0: none */
    double since;      /* when it was first seen */
    uint64_t reported; /* the wait last reported */
};

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running, stop;
    int rank, seconds;
    struct tracker t[WD_THREADS][2];
    uint64_t retries;     /* wd_retries.count at the last sample */
    double storm_since;   /* first sample of the current run of retries, or -1 */
    double storm_last;    /* last sample that saw it rise */
    uint64_t storm_count; /* wd_retries.count then */
    int storm_reported;
} wd = {.mu = PTHREAD_MUTEX_INITIALIZER};

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* Copies the slot's published wait into *out; 0 if idle or changing. */
static int sample(const struct wd_slot *s, struct wd_slot *out)
{
    uint64_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (seq & 1)
        return 0;
    out->what = __atomic_load_n(&s->what, __ATOMIC_ACQUIRE);
    out->id = LOAD(s->id);
    out->rank = LOAD(s->rank);
    out->peer = LOAD(s->peer);
    out->num = LOAD(s->num);
    out->addr = LOAD(s->addr);
    out->label = LOAD(s->label);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    out->seq = seq;
    return LOAD(s->seq) == seq;
}

static void describe(const struct wd_slot *w, char *buf, size_t len)
{
    unsigned long long num = (unsigned long long)w->num;
    const char *access = w->id ? "write" : "read";
    void *addr = (void *)w->addr;
    switch (w->what) {
    case WD_LOCK_ENQUEUE:
        snprintf(buf, len, "in mdsm_lock(%d): joining its queue at the lock's home, rank %d", w->id,
                 w->rank);
        break;
    case WD_LOCK_LINK:
        snprintf(buf, len, "in mdsm_lock(%d): linking in behind rank %d (lock homed on rank %d)",
                 w->id, w->peer, w->rank);
        break;
    case WD_LOCK_WAIT:
        snprintf(buf, len, "in mdsm_lock(%d): queued behind rank %d (lock homed on rank %d)", w->id,
                 w->peer, w->rank);
        break;
    case WD_LOCK_CATCH_UP:
        snprintf(buf, len,
                 "in mdsm_lock(%d): holds it, catching up with the write notices it brought "
                 "(lock homed on rank %d)",
                 w->id, w->rank);
        break;
    case WD_UNLOCK_RELEASE:
        snprintf(buf, len, "in mdsm_unlock(%d): writing this rank's changes to their homes", w->id);
        break;
    case WD_UNLOCK_TAIL:
        snprintf(buf, len, "in mdsm_unlock(%d): checking its queue at the lock's home, rank %d",
                 w->id, w->rank);
        break;
    case WD_UNLOCK_SUCCESSOR:
        snprintf(buf, len,
                 "in mdsm_unlock(%d): waiting for the next rank in its queue to link in (queue "
                 "tail rank %d, lock homed on rank %d)",
                 w->id, w->peer, w->rank);
        break;
    case WD_UNLOCK_HANDOVER:
        snprintf(buf, len, "in mdsm_unlock(%d): handing it over to rank %d", w->id, w->peer);
        break;
    case WD_BARRIER_RELEASE:
        snprintf(buf, len, "in mdsm_barrier (#%llu): writing this rank's changes to their homes",
                 num);
        break;
    case WD_BARRIER_EXCHANGE:
        snprintf(buf, len, "in mdsm_barrier (#%llu): waiting for the other ranks", num);
        break;
    case WD_BARRIER_CATCH_UP:
        snprintf(buf, len, "in mdsm_barrier (#%llu): reading the other ranks' write notices", num);
        break;
    case WD_RELEASE:
        snprintf(buf, len, "in mdsm_release: writing this rank's changes to their homes");
        break;
    case WD_ACQUIRE:
        snprintf(buf, len, "in mdsm_acquire: reading the other ranks' write notices");
        break;
    case WD_ATOMIC:
        snprintf(buf, len, "in %s at %p: waiting for the cell's home, rank %d",
                 w->label ? w->label : "an atomic", addr, w->rank);
        break;
    case WD_COLLECTIVE:
        snprintf(buf, len, "in %s: waiting for the other ranks", w->label ? w->label : "a call");
        break;
    case WD_FAULT_SLOT:
        snprintf(buf, len,
                 "on a %s fault at %p: making room in the cache for page %llu (writing an "
                 "evicted page home)",
                 access, addr, num);
        break;
    case WD_FAULT_FETCH:
        snprintf(buf, len, "on a %s fault at %p: fetching page %llu from home rank %d", access,
                 addr, num, w->rank);
        break;
    default: snprintf(buf, len, "in an mdsm call (wait %d)", w->what); break;
    }
}

static void check(struct tracker *t, int thread, double now)
{
    struct wd_slot w;
    if (!sample(t->slot, &w))
        return;
    if (w.seq != t->seq) {
        t->seq = w.seq;
        t->since = now;
        return;
    }
    if (t->reported == w.seq || now - t->since < wd.seconds)
        return;
    t->reported = w.seq;
    char what[320], line[400];
    describe(&w, what, sizeof(what));
    char who[32] = "";
    if (thread > 0) /* the first thread to use mdsm (mdsm_init's) is not named */
        snprintf(who, sizeof(who), " (thread %d)", thread);
    int n = snprintf(line, sizeof(line), "mdsm: watchdog: rank %d blocked %.1f s %s%s\n", wd.rank,
                     now - t->since, what, who);
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    /* One write: the line arrives whole among the other ranks' output. */
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

/* A run of retried faults that lasts the whole period: the access never
 * resolves (the rank spins in the fault handler). */
static void check_retries(double now)
{
    uint64_t count = __atomic_load_n(&wd_retries.count, __ATOMIC_ACQUIRE);
    uintptr_t addr = LOAD(wd_retries.addr);
    const char *state = LOAD(wd_retries.state);
    int rising = count != wd.retries;
    wd.retries = count;
    if (!rising) {
        /* A rank descheduled for a sample or two still spins in the same storm. */
        if (wd.storm_since >= 0 && now - wd.storm_last >= wd.seconds) {
            wd.storm_since = -1;
            wd.storm_reported = 0;
        }
        return;
    }
    wd.storm_last = now;
    if (wd.storm_since < 0) {
        wd.storm_since = now;
        wd.storm_count = count;
        return;
    }
    if (wd.storm_reported || now - wd.storm_since < wd.seconds ||
        count - wd.storm_count < STORM_MIN)
        return;
    wd.storm_reported = 1;
    char line[400];
    int n = snprintf(line, sizeof(line),
                     "mdsm: watchdog: rank %d faulting without end: %llu faults in %.1f s that "
                     "left the page as it was, the last at %p (page %s)\n",
                     wd.rank, (unsigned long long)(count - wd.storm_count), now - wd.storm_since,
                     (void *)addr, state ? state : "?");
    if (n > (int)sizeof(line) - 1)
        n = (int)sizeof(line) - 1;
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

static void *loop(void *arg)
{
    (void)arg;
    /* Four samples per period: a wait is reported within 1.25 periods. */
    long tick_ns = (long)wd.seconds * 250000000L;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&wd.mu);
    while (!wd.stop) {
        next.tv_sec += tick_ns / 1000000000L;
        next.tv_nsec += tick_ns % 1000000000L;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_sec++;
            next.tv_nsec -= 1000000000L;
        }
        while (!wd.stop && pthread_cond_timedwait(&wd.cv, &wd.mu, &next) == 0)
            ; /* woken early: only wd_stop signals */
        if (wd.stop)
            break;
        double now = mdsm_now();
        unsigned threads = __atomic_load_n(&wd_threads, __ATOMIC_RELAXED);
        for (unsigned k = 0; k < threads && k < WD_THREADS; k++) {
            wd.t[k][0].slot = &wd_slots[k][0];
            wd.t[k][1].slot = &wd_slots[k][1];
            check(&wd.t[k][0], (int)k, now);
            check(&wd.t[k][1], (int)k, now);
        }
        check_retries(now);
    }
    pthread_mutex_unlock(&wd.mu);
    return NULL;
}

int wd_start(int rank, int seconds)
{
    if (seconds <= 0)
        return MDSM_OK;
    wd.rank = rank;
    wd.seconds = seconds;
    wd.stop = 0;
    memset(wd.t, 0, sizeof(wd.t));
    wd.retries = __atomic_load_n(&wd_retries.count, __ATOMIC_ACQUIRE);
    wd.storm_since = -1;
    wd.storm_reported = 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int err = pthread_cond_init(&wd.cv, &ca);
    pthread_condattr_destroy(&ca);
    if (err != 0)
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "watchdog: pthread_cond_init: %s",
                                  strerror(err));
    err = pthread_create(&wd.thread, NULL, loop, NULL);
    if (err != 0) {
        pthread_cond_destroy(&wd.cv);
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "watchdog: pthread_create: %s", strerror(err));
    }
    pthread_setname_np(wd.thread, "mdsm-watchdog");
    wd.running = 1;
    return MDSM_OK;
}

void wd_stop(void)
{
    if (!wd.running)
        return;
    pthread_mutex_lock(&wd.mu);
    wd.stop = 1;
    pthread_cond_signal(&wd.cv);
    pthread_mutex_unlock(&wd.mu);
    pthread_join(wd.thread, NULL);
    pthread_cond_destroy(&wd.cv);
    wd.running = 0;
}
