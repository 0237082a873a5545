/*
 * mdsm: software distributed shared memory for MPI programs.
 *
 * This header is the specification of the public API. Every function states
 * whether it is collective, which threads may call it (see Threads), what it
 * does to memory visibility, and what it returns on error. Functions return MDSM_OK (0) or a
 * negative MDSM_ERR_* code; output parameters are written only on success. Bad input never prints
 * anything unless logging is on (MDSM_LOG_LEVEL=info or debug); the detailed
 * message of the calling thread's last failure is in mdsm_last_error_message().
 *
 * Usable from C99 and C++.
 */
#ifndef MDSM_H
#define MDSM_H

#include <mpi.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MDSM_VERSION_MAJOR  0
#define MDSM_VERSION_MINOR  1
#define MDSM_VERSION_PATCH  0
#define MDSM_VERSION_STRING "0.1.0"

/* ---- Status codes ------------------------------------------------------ */

typedef enum mdsm_status {
    MDSM_OK = 0,
    MDSM_ERR_NOT_INITIALIZED = -1,     /* call before mdsm_init or after mdsm_finalize */
    MDSM_ERR_ALREADY_INITIALIZED = -2, /* mdsm_init called twice */
    MDSM_ERR_INVALID_ARG = -3,         /* NULL or out-of-range argument */
    MDSM_ERR_CONFIG = -4,              /* malformed or out-of-range MDSM_* value or config field */
    MDSM_ERR_THREAD_LEVEL = -5,        /* caller's MPI thread level is below what mdsm needs */
    MDSM_ERR_MPI = -6,                 /* an MPI call failed */
    MDSM_ERR_NO_MEMORY = -7,           /* local memory or address space exhausted */
    MDSM_ERR_SYSTEM = -8,              /* a system call failed */
    MDSM_ERR_REMOTE = -9,              /* the call failed on another rank; see that rank */
    MDSM_ERR_OUT_OF_SPACE = -10,       /* the global space cannot hold the allocation */
    MDSM_ERR_NOT_ALLOCATION = -11,     /* pointer is not the start of an mdsm allocation */
    MDSM_ERR_LOCK_ID = -12,            /* lock id outside [0, number of locks) */
    MDSM_ERR_NOT_LOCK_HOLDER = -13,    /* unlock of a lock the caller does not hold */
    MDSM_ERR_LOCK_HELD = -14,          /* lock of a lock the caller already holds */
    MDSM_ERR_NOT_GLOBAL = -15,         /* address is not inside mdsm global memory */
    MDSM_ERR_ALIGNMENT = -16,          /* atomic operand is not 8-byte aligned */
    MDSM_ERR_MISMATCH = -17,           /* ranks passed different arguments to a collective */
    MDSM_ERR_INTERNAL = -18,           /* a bug in mdsm; please report it */
    MDSM_ERR_PAPI = -19,               /* a PAPI call failed (mdsm_papi.h) */
    MDSM_ERR_EVENT = -20,              /* PAPI event unknown or not countable here (mdsm_papi.h) */
    MDSM_ERR_CALL_ORDER = -21,         /* call out of order, e.g. stop before start (mdsm_papi.h) */
    MDSM_ERR_FORKED = -22,             /* call in a process forked after mdsm_init */
    MDSM_ERR_CONCURRENT = -23          /* collective call from a second thread of a rank at once */
} mdsm_status_t;

/* Short, static description of a status code (never NULL). */
const char *mdsm_strerror(int status);

/* Status of the calling thread's last failed mdsm call; MDSM_OK if none.
 * Needed for calls that report failure by returning NULL (mdsm_alloc). */
int mdsm_last_error(void);

/* Detailed message of the calling thread's last failed call (names the
 * variable, the value and the accepted form for configuration errors).
 * Empty string if none. Valid until the thread's next failing call. */
const char *mdsm_last_error_message(void);

/* ---- Configuration ----------------------------------------------------- */

/* An allocation of at least nranks pages starts on rank 0: with block, rank
 * r homes its r-th share. One of fewer pages is homed on consecutive ranks
 * starting where the previous such allocation ended (rank 0 for the first),
 * so that small allocations spread over the ranks. */
typedef enum mdsm_distribution {
    MDSM_DIST_UNSET = 0, /* take MDSM_DISTRIBUTION or the default (block) */
    MDSM_DIST_BLOCK = 1, /* each rank homes one contiguous share of every allocation */
    MDSM_DIST_CYCLIC = 2 /* pages are homed round-robin over the ranks */
} mdsm_distribution_t;

/* Settings an application may fix in code. A zero field means "unset": the
 * MDSM_* environment variable named beside it applies, else the default.
 * A set field wins over the environment. Initialise with mdsm_config_init. */
typedef struct mdsm_config {
    size_t space_size;                /* MDSM_SPACE_SIZE: bytes of global space */
    size_t cache_size;                /* MDSM_CACHE_SIZE: bytes of remote pages cached per rank */
    size_t page_size;                 /* MDSM_PAGE_SIZE: coherence unit, multiple of the OS page */
    mdsm_distribution_t distribution; /* MDSM_DISTRIBUTION */
    int num_locks;                    /* MDSM_NUM_LOCKS */
} mdsm_config_t;

/* Sets every field of *cfg to unset. Returns MDSM_ERR_INVALID_ARG for NULL. */
int mdsm_config_init(mdsm_config_t *cfg);

/* Where a configuration value came from. */
typedef enum mdsm_config_source {
    MDSM_CONFIG_SOURCE_DEFAULT = 0,
    MDSM_CONFIG_SOURCE_ENV = 1,
    MDSM_CONFIG_SOURCE_API = 2
} mdsm_config_source_t;

/* One entry of the configuration table, with its resolved value. */
typedef struct mdsm_config_var {
    const char *name;          /* environment variable, e.g. "MDSM_CACHE_SIZE" */
    const char *default_value; /* as it would be written in the environment */
    const char *form;          /* accepted form, e.g. "size with unit K, M, G or T, 64K..1T" */
    const char *doc;           /* one-line description */
    char value[64];            /* resolved value, normalised */
    mdsm_config_source_t source;
} mdsm_config_var_t;

/* Number of entries in the configuration table. Never fails. */
int mdsm_config_num_vars(void);

/* Describes entry index (0 <= index < mdsm_config_num_vars()). Not collective,
 * callable before mdsm_init. While mdsm is initialised, value is the one in
 * force; otherwise it is what mdsm_init(comm, NULL) would use given the
 * current environment. Returns MDSM_ERR_INVALID_ARG for a bad index or NULL
 * out, and MDSM_ERR_CONFIG if the environment value does not parse. */
int mdsm_config_var(int index, mdsm_config_var_t *out);

/* Warns on stderr (log level warn) about each MDSM_* environment variable that
 * is not in the table, naming the closest known one ("did you mean"). mdsm_init
 * calls it; tools may too. Returns the number of unknown names. Not collective. */
int mdsm_config_warn_unknown(void);

/* Settings read from the environment only (see mdsm-info for all of them)
 * include MDSM_WATCHDOG=<seconds>, 0 (off) by default, 0..86400, and local to
 * each rank: a rank blocked in one mdsm call or page fault for longer than
 * that prints once, on stderr, one line "mdsm: watchdog: rank R blocked S s
 * ..." naming what it waits for (the lock id and the rank it queued behind,
 * the barrier's number, or the page and its home rank). It runs a thread,
 * started by mdsm_init and joined by mdsm_finalize, that never calls MPI.
 * MDSM_NODE_SHARING=on|off (on by default, the same on every rank) makes the
 * ranks of a node use the node's home pages in place (see Global memory);
 * off keeps the per-rank protocol on one node. MDSM_MAX_MAPPINGS (0: derived
 * from vm.max_map_count) bounds the kernel mappings of a rank's global range;
 * mdsm evicts cached pages and closes home pages to stay under it, and never
 * fails inside a page fault for lack of them. */

/* ---- Lifecycle ---------------------------------------------------------- */

/* Collective over comm. Starts mdsm on the ranks of comm (mdsm duplicates it).
 * cfg may be NULL (defaults + MDSM_* environment). If MPI is not initialised,
 * mdsm initialises it with MPI_THREAD_MULTIPLE and mdsm_finalize finalises it;
 * otherwise any thread level of the caller's MPI will do (plain MPI_Init
 * included), except that MDSM_PROGRESS=thread needs MPI_THREAD_MULTIPLE. With
 * MDSM_PROGRESS=auto (the default) a progress thread starts where other
 * ranks reach this rank's memory by MPI calls that may wait for it (always
 * across nodes; on one node, only if MPI failed a short probe at init of the
 * calls mdsm makes, which then takes up to 0.1 s) and MPI provides
 * MPI_THREAD_MULTIPLE; below that there is none, and the lowest rank warns
 * once that a rank computing outside MPI delays others.
 * All ranks agree on the outcome: if any rank fails, every rank returns an
 * error (MDSM_ERR_REMOTE on the ranks that did not fail themselves) and mdsm
 * stays uninitialised everywhere. MDSM_SPACE_SIZE, MDSM_PAGE_SIZE,
 * MDSM_DISTRIBUTION and MDSM_NUM_LOCKS (or their cfg fields) must resolve to
 * the same values on every rank; otherwise every rank returns
 * MDSM_ERR_MISMATCH, with a message naming the variable and two ranks' values
 * and sources. The other settings may differ per rank.
 * One thread per rank calls it; threads of the rank may use mdsm once it
 * returns (see Threads).
 * Errors: MDSM_ERR_ALREADY_INITIALIZED, MDSM_ERR_INVALID_ARG (comm is
 * MPI_COMM_NULL), MDSM_ERR_CONFIG, MDSM_ERR_MISMATCH, MDSM_ERR_THREAD_LEVEL
 * (MDSM_PROGRESS=thread below MPI_THREAD_MULTIPLE), MDSM_ERR_MPI,
 * MDSM_ERR_REMOTE. */
int mdsm_init(MPI_Comm comm, const mdsm_config_t *cfg);

/* Collective, from one thread per rank, once the rank's other threads have
 * stopped using mdsm. Releases everything mdsm holds; finalises MPI if
 * mdsm_init initialised it. Errors: MDSM_ERR_NOT_INITIALIZED,
 * MDSM_ERR_CONCURRENT (another thread is in a collective mdsm call).
 * Afterwards every call but mdsm_init fails with MDSM_ERR_NOT_INITIALIZED
 * ("... called after mdsm_finalize"). The former global range stays reserved
 * and inaccessible (no memory cost) until the next mdsm_init, and mdsm's
 * SIGSEGV handler stays installed: a load or store there prints
 * "mdsm: <addr> is mdsm global memory used after mdsm_finalize" and then
 * crashes as it would without mdsm; other faults go on to the handler that
 * was installed before mdsm_init. */
int mdsm_finalize(void);

/* This rank's index in the communicator given to mdsm_init, and the number of
 * ranks. Return MDSM_ERR_NOT_INITIALIZED (negative) before mdsm_init. */
int mdsm_rank(void);
int mdsm_nranks(void);

/* Non-zero while mdsm is initialised (0 in a forked child). Never fails. */
int mdsm_initialized(void);

/* ---- Threads ---------------------------------------------------------------
 * A rank is the unit of coherence; its threads share its copies. With
 * MPI_THREAD_MULTIPLE (what mdsm_init asks for when it initialises MPI):
 *  - any number of threads of a rank may load and store global memory at
 *    once. Concurrent faults on one page make one fetch (and one twin); the
 *    other threads wait for its data. Faults on different pages proceed in
 *    parallel, the transfers included;
 *  - any thread may call mdsm_lock, mdsm_unlock, mdsm_acquire, mdsm_release,
 *    mdsm_fetch_add, mdsm_cas and the local getters. A release by any thread
 *    makes the writes that all of the rank's threads made before it visible;
 *    an acquire by any thread makes other ranks' released writes visible to
 *    every thread of the rank that synchronises with it afterwards (OpenMP
 *    barrier, pthread mutex, ...). Writes made concurrently with a release
 *    may go out with it or with the next one;
 *  - a lock is held by one thread: another thread of the rank that calls
 *    mdsm_lock on it waits, queued locally, until the holder's mdsm_unlock
 *    ends, then queues across ranks (FIFO among ranks, not among a rank's
 *    threads). Only the holding thread may unlock it;
 *  - mdsm_init, mdsm_finalize, mdsm_barrier, mdsm_alloc and mdsm_free are
 *    collective per rank, as MPI collectives are: one thread of each rank
 *    calls them. A second thread calling one of the last four while another
 *    thread of the rank is inside one gets MDSM_ERR_CONCURRENT at once (the
 *    first call goes on); other threads may keep computing, faulting and
 *    using locks meanwhile.
 * Cost: an uncontended fault takes a process-wide mutex twice (tens of
 * nanoseconds, dropped during the transfer); synchronisation calls serialise
 * on a second one except while waiting for other ranks.
 * With a lower thread level only the thread that called mdsm_init may use
 * mdsm: other threads' calls that need MPI return MDSM_ERR_THREAD_LEVEL, and
 * their faults on pages not homed on the node end the process with a message
 * saying so. Global memory handed to MPI calls or system calls is accessed by
 * MPI or the kernel, not by a thread, and may fault inside them: touch it
 * from the calling thread first. */

/* ---- fork ------------------------------------------------------------------
 * Only the process that called mdsm_init may use mdsm. In a child forked
 * after mdsm_init every mdsm call that uses the session (mdsm_init and
 * mdsm_finalize included) returns MDSM_ERR_FORKED and touches no MPI; the
 * child must not call MPI either, and should end with _exit. Global memory is
 * made inaccessible in the child at the fork, so the child can never reach
 * the parent's copies: a load or store there prints "mdsm: a process forked
 * after mdsm_init accessed mdsm global memory at <addr>; only the parent may"
 * and kills the child with SIGSEGV. exec in the child is fine. */

/* ---- SIGSEGV handlers ------------------------------------------------------
 * mdsm serves page faults in global memory from its SIGSEGV handler,
 * installed by mdsm_init; faults elsewhere go on to the handler installed
 * before it. A handler the application installs after mdsm_init receives
 * mdsm's faults instead and must pass them on: it calls mdsm_handle_fault
 * first and returns at once when that returns nonzero. mdsm checks the
 * installed handler at the start of each collective call, and of the other
 * calls (except the local getters mdsm_rank, mdsm_nranks, mdsm_page_size and
 * mdsm_home_of) at most once per 10 ms, so that a lock or atomic in a loop
 * makes no system call for it; if it was replaced by one that has not yet
 * passed a fault to mdsm_handle_fault, mdsm warns once per session (log
 * level warn). */

/* siginfo_t is POSIX: a strict ISO C compilation (-std=c99 without
 * _POSIX_C_SOURCE) declares the same function with void *. */
#if defined(__cplusplus) || !defined(__STRICT_ANSI__) || defined(_POSIX_C_SOURCE) ||               \
    defined(_XOPEN_SOURCE) || defined(_GNU_SOURCE)
typedef siginfo_t mdsm_siginfo_t;
#else
typedef void mdsm_siginfo_t;
#endif

/* For SIGSEGV handlers: serves the fault described by (sig, info, ucontext),
 * the arguments of an SA_SIGINFO handler, if it is mdsm's. Returns nonzero
 * when it was a fault in mdsm global memory and has been served (the handler
 * returns, and the access is retried); 0 otherwise, and the caller handles
 * the fault as its own. Async-signal-safe; call it from the handler, on any
 * thread. For a fault that is misuse of mdsm memory (after mdsm_finalize, in
 * a forked child, memory the application unmapped) it prints one line saying
 * so and returns 0. */
int mdsm_handle_fault(int sig, mdsm_siginfo_t *info, void *ucontext);

/* ---- Global memory --------------------------------------------------------
 * Global memory sits at the same virtual address on every rank and is used
 * with plain loads and stores. Visibility follows release consistency: a
 * write becomes visible to another rank when the writer releases (unlock,
 * barrier, mdsm_release) and the reader later acquires through the same
 * synchronisation (lock, barrier, mdsm_acquire). Race-free programs see
 * sequentially consistent memory. Writes to different bytes are never lost,
 * even when ranks write the same page in the same interval.
 *
 * With MDSM_NODE_SHARING=on (the default) the ranks of one node use the
 * pages homed on that node in place: they read them without a fault and see
 * each other's writes at once (stronger than the contract above, on which
 * portable programs should still rely); writes are noticed at the first
 * write per interval, so that ranks on other nodes drop their copies at their
 * next acquire. Where every rank of the job is on one node, no rank can hold
 * a copy: home pages are then mapped read-write for good and writes are not
 * tracked at all (no write faults, no notices), as with threads. A rank's
 * own home pages are not tracked either until a rank of another node first
 * fetches one (shared_home_pages in mdsm_stats_t counts them): a page only
 * its home uses costs nothing at a release. Pages homed on other nodes are
 * cached as described. */

/* Collective: every rank passes the same bytes. Returns page-aligned,
 * zero-filled global memory at the same address on every rank, homed by
 * MDSM_DISTRIBUTION. On error returns NULL on every rank and mdsm_last_error()
 * gives MDSM_ERR_INVALID_ARG (bytes is 0), MDSM_ERR_OUT_OF_SPACE (the space
 * cannot hold it), MDSM_ERR_MISMATCH (ranks passed different sizes),
 * MDSM_ERR_NO_MEMORY (its pages would need more kernel memory mappings than a
 * rank may use, vm.max_map_count and MDSM_MAX_MAPPINGS: homes that alternate
 * between nodes page by page; the message names what to change),
 * MDSM_ERR_CONCURRENT (another thread of the rank is in a collective mdsm
 * call; this rank then did not take part) or MDSM_ERR_NOT_INITIALIZED. A
 * failed call changes nothing. One thread per rank. */
void *mdsm_alloc(size_t bytes);

/* Collective: every rank passes the same pointer, returned by mdsm_alloc.
 * Unwritten-back changes to the allocation are discarded. Errors (nothing is
 * freed on any rank): MDSM_ERR_NOT_ALLOCATION (ptr is not the start of a live
 * allocation), MDSM_ERR_REMOTE (another rank's ptr was not),
 * MDSM_ERR_MISMATCH (valid but different pointers), MDSM_ERR_CONCURRENT (as
 * for mdsm_alloc), MDSM_ERR_NOT_INITIALIZED. One thread per rank; no thread
 * may touch the allocation once it is called. */
int mdsm_free(void *ptr);

/* Home rank of the page that holds addr; MDSM_ERR_NOT_GLOBAL (negative) if
 * addr is not in a live allocation. Not collective. */
int mdsm_home_of(const void *addr);

/* Size of the coherence unit in bytes (MDSM_PAGE_SIZE), or a negative error. */
long mdsm_page_size(void);

/* A hint: fetches now the pages of [addr, addr + len) that this rank would
 * otherwise fetch at its first read of each (homed on another node, or on
 * another rank with node sharing off, and not held here), one get per run of
 * pages with one home, so that reading them raises no fault. As if the
 * calling thread read each page now: the copies are kept read-only and
 * dropped at an acquire like any other (writes to them by others are seen
 * only after one), and a write to one still faults once. Only free cache
 * slots (MDSM_CACHE_SIZE) are used: the hint evicts nothing and stops where
 * they run out. pages_prefetched counts the pages. Not collective; any
 * thread. len 0 does nothing. Errors (nothing is fetched):
 * MDSM_ERR_NOT_GLOBAL (some byte of the range is not in a live allocation),
 * MDSM_ERR_THREAD_LEVEL, MDSM_ERR_NOT_INITIALIZED; MDSM_ERR_MPI if a get
 * fails (the pages fetched before it stay fetched). */
int mdsm_prefetch(const void *addr, size_t len);

/* ---- Synchronisation ----------------------------------------------------- */

/* Number of locks (MDSM_NUM_LOCKS); ids are 0..mdsm_num_locks()-1. */
int mdsm_num_locks(void);

/* Acquires lock id (blocking, FIFO-fair across ranks). Acquire semantics:
 * afterwards this rank sees every write made before any earlier mdsm_unlock
 * of id. Any thread; while another thread of the rank holds id, the caller
 * waits for it (see Threads). Errors: MDSM_ERR_LOCK_ID, MDSM_ERR_LOCK_HELD
 * (the calling thread holds it already), MDSM_ERR_THREAD_LEVEL,
 * MDSM_ERR_NOT_INITIALIZED; on MDSM_ERR_MPI after the lock was obtained the
 * caller holds it and must still mdsm_unlock it. */
int mdsm_lock(int id);

/* Releases lock id. Release semantics: this rank's writes (all its threads')
 * are made visible to the next holder. Only the thread that holds it.
 * Errors: MDSM_ERR_LOCK_ID, MDSM_ERR_NOT_LOCK_HOLDER (this thread does not
 * hold it; the message says if another thread of the rank does),
 * MDSM_ERR_THREAD_LEVEL, MDSM_ERR_NOT_INITIALIZED; if writing the changes
 * home fails, the lock is still handed on and the error returned. */
int mdsm_unlock(int id);

/* Collective, from one thread per rank. Release then acquire: afterwards
 * every rank sees every write made by any rank (any of its threads) before
 * the barrier. Cost: an allgather of one word per rank, then, where more than
 * 2 ranks wrote since the last barrier, an allgatherv of their write notices
 * (else a few gets of each writer's log); waiting ranks nap after 200 us.
 * Errors: MDSM_ERR_CONCURRENT (another thread of the rank is in a
 * collective mdsm call: this rank did not enter the barrier), MDSM_ERR_MPI,
 * MDSM_ERR_REMOTE (another rank failed to release), MDSM_ERR_NOT_INITIALIZED. */
int mdsm_barrier(void);

/* Fences for synchronisation built on mdsm atomics. mdsm_release makes this
 * rank's writes (all its threads') visible at their homes; mdsm_acquire makes
 * this rank see every write released (by any rank) before the call. Not
 * collective; any thread. Cost: a release that published write notices
 * (mdsm_release, mdsm_unlock; not mdsm_barrier) also bumps a release epoch on
 * rank 0 with one atomic; mdsm_acquire reads it with one atomic and stops
 * there when it has not moved since this rank's last mdsm_acquire (and no
 * barrier of this rank is under way), else reads every rank's notice head
 * and the notices it missed. Errors: MDSM_ERR_MPI, MDSM_ERR_THREAD_LEVEL,
 * MDSM_ERR_NOT_INITIALIZED. A release whose writes could not reach their
 * homes returns MDSM_ERR_MPI, and so does every later release (mdsm_unlock
 * and mdsm_barrier included): those homes may lack this rank's writes. */
int mdsm_acquire(void);
int mdsm_release(void);

/* ---- Atomics -------------------------------------------------------------
 * Act on the home copy of an 8-byte-aligned int64_t in global memory, atomic
 * with respect to each other across all ranks, never served from a cache.
 * They order no other memory: pair them with mdsm_release/mdsm_acquire.
 * Any thread. Errors: MDSM_ERR_NOT_GLOBAL, MDSM_ERR_ALIGNMENT,
 * MDSM_ERR_THREAD_LEVEL, MDSM_ERR_MPI, MDSM_ERR_NOT_INITIALIZED. */

/* *addr += value; *old (if not NULL) receives the previous value. */
int mdsm_fetch_add(int64_t *addr, int64_t value, int64_t *old);

/* If *addr == expected, *addr = desired. *old (required) receives the value
 * seen; the swap happened iff *old == expected. */
int mdsm_cas(int64_t *addr, int64_t expected, int64_t desired, int64_t *old);

/* ---- Statistics ------------------------------------------------------------ */

/* Per-rank counters since mdsm_init (or the last mdsm_stats_reset). */
typedef struct mdsm_stats {
    uint64_t read_faults;   /* faults on pages not readable here (fetches, and node_read_faults) */
    uint64_t write_faults;  /* first writes to a page in an interval */
    uint64_t pages_fetched; /* remote pages read from their home */
    uint64_t bytes_fetched;
    uint64_t diffs;      /* pages whose changes were written to their home */
    uint64_t diff_bytes; /* changed bytes written */
    uint64_t invalidations;
    uint64_t evictions;
    uint64_t lock_acquires;
    double lock_wait_s; /* time spent in mdsm_lock */
    uint64_t barriers;
    double barrier_s; /* time spent in mdsm_barrier */
    /* The part of read_faults and write_faults on pages homed on this rank's
     * node (its own, and its neighbours' with MDSM_NODE_SHARING=on): no
     * transfer, no twin, no diff. Node pages read-fault only where mdsm
     * mapped them lazily to save kernel mappings. */
    uint64_t node_read_faults;
    uint64_t node_write_faults;
    /* This rank's home pages that a rank on another node fetched (once
     * each): until then writes to a home page raise no fault and no notice. */
    uint64_t shared_home_pages;
    /* The part of pages_fetched taken without a fault of their own: ahead of
     * a read miss, in its get, while misses came in address order
     * (MDSM_PREFETCH_MAX), or by mdsm_prefetch. */
    uint64_t pages_prefetched;
    /* The part of pages_fetched that brought a read-only copy up to date in
     * place at a lock acquire, instead of dropping it: pages the last holder
     * wrote, which this rank then reads without a fault. */
    uint64_t pages_refreshed;
    /* What this rank sent through MPI for coherence: one-sided operations it
     * issued (gets, puts, accumulates and atomics, on pages and on metadata;
     * flushes not counted) and the bytes they moved; point-to-point messages
     * it sent (lock links and grants) and their bytes; mdsm's collectives
     * (barrier exchanges, allocation agreements) and the bytes each brought
     * this rank. The cost model in the README is stated in these. */
    uint64_t rma_ops;
    uint64_t rma_bytes;
    uint64_t messages;
    uint64_t message_bytes;
    uint64_t collectives;
    uint64_t collective_bytes;
} mdsm_stats_t;

/* Copies this rank's counters. Errors: MDSM_ERR_INVALID_ARG, MDSM_ERR_NOT_INITIALIZED. */
int mdsm_stats_get(mdsm_stats_t *out);

/* Zeroes this rank's counters. Error: MDSM_ERR_NOT_INITIALIZED.
 * The same counters are PAPI events (sde:::mdsm::<NAME>, see mdsm_papi.h),
 * which count from process start and are not zeroed, here or by mdsm_init:
 * PAPI reports the change between PAPI_start and PAPI_read/PAPI_stop, so a
 * reset in between leaves that change intact. Use PAPI_reset to zero a
 * running PAPI count. */
int mdsm_stats_reset(void);

/* Prints this rank's counters as one line on stdout (what MDSM_STATS=1
 * prints at mdsm_finalize). Error: MDSM_ERR_NOT_INITIALIZED. */
int mdsm_stats_print(void);

/* ---- Topology and placement ------------------------------------------------
 * At mdsm_init every rank discovers its node's topology with hwloc, finds the
 * ranks of mdsm's communicator that share its node (MPI_COMM_TYPE_SHARED),
 * binds itself if the launcher left it unbound (MDSM_BIND=auto, the default),
 * and binds its home memory to the NUMA node of its CPUs before first touch.
 * A binding made before mdsm_init (mpirun --bind-to, srun --cpu-bind) is kept;
 * mdsm_finalize undoes a binding that mdsm made. When the topology is not this
 * machine's (HWLOC_SYNTHETIC or HWLOC_XMLFILE set), the decisions are
 * computed for that topology and reported, but nothing is applied. Shares
 * are spread over the ranks of mdsm's communicator only: when several jobs or
 * several mdsm sessions on split communicators share a node unbound, set
 * MDSM_BIND=none (or bind at launch), or their shares overlap. */

typedef enum mdsm_binding {
    MDSM_BINDING_NONE = 0,     /* not bound: MDSM_BIND=none, more node-local ranks than PUs,
                                  or binding not possible (mdsm_info_print says why) */
    MDSM_BINDING_LAUNCHER = 1, /* already bound at mdsm_init; kept as it was */
    MDSM_BINDING_MDSM = 2      /* unbound at mdsm_init and bound by mdsm to its share */
} mdsm_binding_t;

/* This rank's place in the job and the machine. */
typedef struct mdsm_placement {
    int node;         /* 0..nnodes-1, numbered in order of each node's lowest rank */
    int nnodes;       /* nodes (shared-memory domains) spanned by mdsm's communicator */
    int local_rank;   /* index among the ranks on this node, in rank order */
    int local_nranks; /* ranks of mdsm's communicator on this node */
    mdsm_binding_t binding;
    char cpuset[512];    /* PUs the rank runs on, OS indexes in hwloc list form ("0-3,8");
                            the whole allowed machine when not bound; truncated if longer */
    int numa_node;       /* OS index of the NUMA node for this rank's home memory; -1 when
                            its PUs span several NUMA nodes (pages go where first touched) */
    int this_system;     /* 0 for a synthetic or XML topology: decisions only, none applied */
    int binding_applied; /* binding is MDSM_BINDING_MDSM and the process is bound to cpuset */
    int home_placed;     /* home memory is bound to numa_node (the OS accepted it); 0 where
                            node sharing shares it with other ranks: first touch then */
    int node_sharing;    /* 1: this rank uses the home pages of every rank of its node in
                            place (MDSM_NODE_SHARING=on and the node's file could be shared;
                            the same on all ranks of a node); 0: only its own */
} mdsm_placement_t;

/* Copies this rank's placement. Not collective.
 * Errors: MDSM_ERR_INVALID_ARG (out is NULL), MDSM_ERR_NOT_INITIALIZED. */
int mdsm_placement_get(mdsm_placement_t *out);

/* ---- Runtime report -------------------------------------------------------- */

/* Writes this rank's runtime decisions to out as "key: value" lines: ranks,
 * node-local ranks, topology, binding, NUMA placement of home memory and the
 * MPI workarounds in force. Not collective. `mdsm-info --runtime` prints it
 * for every rank. Errors: MDSM_ERR_INVALID_ARG, MDSM_ERR_NOT_INITIALIZED. */
int mdsm_info_print(FILE *out);

/* One MPI workaround: a known bug of an MPI library on mdsm's one-sided path,
 * what mdsm does about it, and whether it does so with the MPI in use. */
typedef struct mdsm_workaround {
    const char *name;   /* e.g. "atomics64_emulated" */
    const char *bug;    /* what goes wrong without it */
    const char *remedy; /* what mdsm does instead */
    const char *detect; /* how mdsm decides, e.g. "Open MPI older than 4.1.5" */
    int active;         /* non-zero: applied with the MPI library in use */
} mdsm_workaround_t;

/* Number of known workarounds. Never fails. */
int mdsm_workaround_count(void);

/* Describes workaround index (0 <= index < mdsm_workaround_count()). Not
 * collective; callable before mdsm_init and before MPI_Init (the decision is
 * made from MPI_Get_library_version). `mdsm-info` lists them. Errors:
 * MDSM_ERR_INVALID_ARG (index out of range or out is NULL). */
int mdsm_workaround(int index, mdsm_workaround_t *out);

#ifdef __cplusplus
}
#endif

#endif /* MDSM_H */
