/* The watchdog (MDSM_WATCHDOG=seconds): what this rank waits for now, set by
 * the wait points of the other modules, and a thread that reports, once per
 * wait, a wait that lasts longer than the period. Waits inside MPI cannot be
 * timed by the waiting thread itself, hence the thread. It never calls MPI.
 *
 * Writers are the application's threads, each with two slots of its own: one
 * for its mdsm calls, one for its fault handler (which may run in the middle
 * of a call). They write them with plain stores only (async-signal-safe, no
 * clock, no system call). A slot's seq is odd while idle and even while a
 * wait is published; each wait gets a new even seq, which the thread times. */
#ifndef MDSM_WATCHDOG_WATCHDOG_H
#define MDSM_WATCHDOG_WATCHDOG_H

#include <stdint.h>

/* What a wait is for: the call and, within it, the step. */
enum wd_what {
    WD_LOCK_ENQUEUE = 1, /* mdsm_lock: swapping into the queue tail at the lock's home */
    WD_LOCK_LINK,        /* mdsm_lock: linking behind the predecessor */
    WD_LOCK_WAIT,        /* mdsm_lock: waiting for the predecessor to hand it over */
    WD_LOCK_CATCH_UP,    /* mdsm_lock: held; reading the releaser's notices */
    WD_UNLOCK_RELEASE,   /* mdsm_unlock: writing changes home */
    WD_UNLOCK_TAIL,      /* mdsm_unlock: checking the queue tail at the lock's home */
    WD_UNLOCK_SUCCESSOR, /* mdsm_unlock: waiting for a successor to link in */
    WD_UNLOCK_HANDOVER,  /* mdsm_unlock: handing over to the successor */
    WD_BARRIER_RELEASE,  /* mdsm_barrier: writing changes home */
    WD_BARRIER_EXCHANGE, /* mdsm_barrier: the collective, waiting for the other ranks */
    WD_BARRIER_CATCH_UP, /* mdsm_barrier: reading the other ranks' notices */
    WD_RELEASE,          /* mdsm_release */
    WD_ACQUIRE,          /* mdsm_acquire */
    WD_ATOMIC,           /* mdsm_fetch_add or mdsm_cas at the cell's home */
    WD_COLLECTIVE,       /* mdsm_alloc, mdsm_free, mdsm_finalize: the other ranks */
    WD_FAULT_SLOT,       /* fault: making room in the cache (evicting a page) */
    WD_FAULT_FETCH,      /* fault: fetching the page from its home */
    WD_WHAT_END
};

struct wd_slot {
    uint64_t seq;
    int32_t what;      /* enum wd_what */
    int32_t id;        /* lock id; for faults 1 on a write access */
    int32_t rank;      /* home rank: of the lock, the page or the cell */
    int32_t peer;      /* predecessor or successor rank, or -1 */
    uint64_t num;      /* barrier number, page index */
    uintptr_t addr;    /* faulting address, atomic cell */
    const char *label; /* WD_COLLECTIVE, WD_ATOMIC: the call's name */
};

/* Slot pairs of the first WD_THREADS threads that used mdsm, in that order;
 * later threads share the last pair (their reports may then mix). */
#define WD_THREADS 64
extern struct wd_slot wd_slots[WD_THREADS][2];
extern __thread struct wd_slot *wd_own __attribute__((tls_model("initial-exec")));

/* The calling thread's pair, taken at its first use (async-signal-safe). */
struct wd_slot *wd_register(void);

static inline struct wd_slot *wd_thread_slots(void)
{
    struct wd_slot *own = wd_own;
    return own ? own : wd_register();
}

#define wd_api   (wd_thread_slots()[0])
#define wd_fault (wd_thread_slots()[1])

#define WD_STORE(field, v) __atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

/* Publishes a new wait in s, once its fields are set: (seq | 1) + 1 is even
 * and new even if the last wait was not ended. */
static inline void wd_publish(struct wd_slot *s, int what)
{
    WD_STORE(s->what, what);
    __atomic_store_n(&s->seq, (s->seq | 1) + 1, __ATOMIC_RELEASE);
}

/* Moves the current wait to its next step (the same wait: the same seq). */
static inline void wd_step(struct wd_slot *s, int what)
{
    __atomic_store_n(&s->what, what, __ATOMIC_RELEASE);
}

static inline void wd_end(struct wd_slot *s)
{
    __atomic_store_n(&s->seq, s->seq | 1, __ATOMIC_RELEASE);
}

/* The wait points. Each costs its plain stores and nothing else. */
static inline void wd_lock(int what, int id, int home, int peer)
{
    WD_STORE(wd_api.id, id);
    WD_STORE(wd_api.rank, home);
    WD_STORE(wd_api.peer, peer);
    wd_publish(&wd_api, what);
}

/* peer only (the predecessor or successor found since the wait began). */
static inline void wd_lock_step(int what, int peer)
{
    WD_STORE(wd_api.peer, peer);
    wd_step(&wd_api, what);
}

static inline void wd_barrier(int what, uint64_t number)
{
    WD_STORE(wd_api.num, number);
    wd_publish(&wd_api, what);
}

/* WD_ATOMIC (rank: the home, addr: the cell), WD_COLLECTIVE, WD_ACQUIRE, WD_RELEASE. */
static inline void wd_call(int what, const char *label, int rank, const void *addr)
{
    WD_STORE(wd_api.label, label);
    WD_STORE(wd_api.rank, rank);
    WD_STORE(wd_api.addr, (uintptr_t)addr);
    wd_publish(&wd_api, what);
}

static inline void wd_fault_begin(const void *addr, uint64_t page, int home, int is_write)
{
    WD_STORE(wd_fault.addr, (uintptr_t)addr);
    WD_STORE(wd_fault.num, page);
    WD_STORE(wd_fault.rank, home);
    WD_STORE(wd_fault.id, is_write);
    wd_publish(&wd_fault, WD_FAULT_SLOT);
}

/* Faults the handler let retry without changing anything, because the page
 * already looked resolved (another thread got there first). An access that
 * keeps faulting so never returns and publishes no wait: the thread reports
 * these when they go on for a whole period. Written by the fault handler. */
struct wd_retries {
    uint64_t count;
    uintptr_t addr;    /* the last one */
    const char *state; /* the page's state then, as the cache names it */
};
extern struct wd_retries wd_retries;

static inline void wd_fault_retried(const void *addr, const char *state)
{
    WD_STORE(wd_retries.addr, (uintptr_t)addr);
    WD_STORE(wd_retries.state, state);
    __atomic_store_n(&wd_retries.count, wd_retries.count + 1, __ATOMIC_RELEASE);
}

/* Starts the thread when seconds > 0 (rank names this rank in messages). */
int wd_start(int rank, int seconds);
void wd_stop(void);

#endif
