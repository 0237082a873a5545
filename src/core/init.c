/* Session lifecycle: mdsm_init, mdsm_finalize and the state checks of every call. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "common/error.h"
#include "common/lifecycle.h"
#include "common/log.h"
#include "core/context.h"
#include "fault/fault.h"
#include "progress/progress.h"
#include "rma/passive.h"
#include "rma/rma.h"
#include "space/space.h"
#include "stats/stats.h"
#include "sync/lock.h"
#include "sync/meta.h"
#include "sync/notice.h"
#include "topo/topo.h"
#include "watchdog/watchdog.h"

struct mdsm_context mdsm_ctx;

static int forked_error(const char *call)
{
    return mdsm_fail(MDSM_ERR_FORKED,
                     "%s called in a process forked after mdsm_init; only the process that "
                     "called mdsm_init may use mdsm",
                     call);
}

static int check_initialized(const char *call, int always_check_handler)
{
    int rc = mdsm_check_session(call);
    if (rc != MDSM_OK)
        return rc;
    if (!mdsm_life.any_thread && !pthread_equal(pthread_self(), mdsm_life.init_thread))
        return mdsm_fail(MDSM_ERR_THREAD_LEVEL,
                         "%s called from a thread other than mdsm_init's, but MPI does not "
                         "provide MPI_THREAD_MULTIPLE: initialise MPI with "
                         "MPI_Init_thread(MPI_THREAD_MULTIPLE) to use mdsm from threads",
                         call);
    fault_check_handler(always_check_handler);
    return MDSM_OK;
}

int mdsm_check_initialized(const char *call)
{
    return check_initialized(call, 0);
}

int mdsm_check_session(const char *call)
{
    if (mdsm_life.forked)
        return forked_error(call);
    if (mdsm_ctx.initialized)
        return MDSM_OK;
    if (mdsm_life.finalized)
        return mdsm_fail(MDSM_ERR_NOT_INITIALIZED, "%s called after mdsm_finalize", call);
    return mdsm_fail(MDSM_ERR_NOT_INITIALIZED, "%s called before mdsm_init", call);
}

/* The child of a fork must never reach the parent's global memory: the home
 * pages are a shared mapping, so a child's store would land in the parent's. */
static void in_fork_child(void)
{
    mdsm_life.forked = 1;
    space_forget_in_child();
}

static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, in_fork_child);
}

int mdsm_agree(MPI_Comm comm, int local_status, const char *what)
{
    int failed = local_status != MDSM_OK, any_failed = 0;
    if (MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "%s: MPI_Allreduce failed", what);
    if (failed)
        return local_status;
    if (any_failed)
        return mdsm_fail(MDSM_ERR_REMOTE, "%s failed on another rank", what);
    return MDSM_OK;
}

/* Collective over comm: mdsm_agree's outcome and, when every rank succeeded,
 * the check that the settings that must agree are the same everywhere, in
 * one reduction (each value travels as v and ~v, so MAX gives max and min). */
static int agree_on_settings(MPI_Comm comm, int local_status, const struct mdsm_config_resolved *r)
{
    int n = mdsm_config_num_agreed();
    uint64_t mine[1 + 2 * MDSM_CONFIG_MAX_VARS] = {0}, max[1 + 2 * MDSM_CONFIG_MAX_VARS];
    uint64_t v[MDSM_CONFIG_MAX_VARS] = {0};
    int source[MDSM_CONFIG_MAX_VARS] = {0};
    mine[0] = local_status != MDSM_OK;
    for (int k = 0; k < n && local_status == MDSM_OK; k++) {
        mdsm_config_agreed(r, k, &v[k], &source[k]);
        mine[1 + 2 * k] = v[k];
        mine[2 + 2 * k] = ~v[k];
    }
    if (MPI_Allreduce(mine, max, 1 + 2 * n, MPI_UINT64_T, MPI_MAX, comm) != MPI_SUCCESS)
        return mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_init: MPI_Allreduce failed");
    if (local_status != MDSM_OK)
        return local_status;
    if (max[0])
        return mdsm_fail(MDSM_ERR_REMOTE, "mdsm_init failed on another rank");
    for (int k = 0; k < n; k++) {
        uint64_t hi = max[1 + 2 * k], lo = ~max[2 + 2 * k];
        if (hi == lo)
            continue;
        /* Every rank takes this path: find the lowest rank holding each extreme. */
        int rank = 0;
        MPI_Comm_rank(comm, &rank);
        int key[2] = {v[k] == lo ? rank * 4 + source[k] : INT_MAX,
                      v[k] == hi ? rank * 4 + source[k] : INT_MAX},
            low[2] = {0, 0};
        if (MPI_Allreduce(key, low, 2, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
            return mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_init: MPI_Allreduce failed");
        return mdsm_config_mismatch(k, low[0] / 4, lo, low[0] % 4, low[1] / 4, hi, low[1] % 4);
    }
    return MDSM_OK;
}

/* Only a progress thread asked for by name needs more than the caller's level:
 * below MPI_THREAD_MULTIPLE mdsm calls MPI from mdsm_init's thread alone. */
static int required_thread_level(const struct mdsm_settings *s)
{
    return s->progress == MDSM_PROGRESS_THREAD ? MPI_THREAD_MULTIPLE : MPI_THREAD_SINGLE;
}

static const char *thread_level_name(int level)
{
    switch (level) {
    case MPI_THREAD_SINGLE: return "MPI_THREAD_SINGLE";
    case MPI_THREAD_FUNNELED: return "MPI_THREAD_FUNNELED";
    case MPI_THREAD_SERIALIZED: return "MPI_THREAD_SERIALIZED";
    case MPI_THREAD_MULTIPLE: return "MPI_THREAD_MULTIPLE";
    }
    return "unknown";
}

/* Initialises MPI if the caller has not, and checks its thread level. */
static int setup_mpi(const struct mdsm_settings *s, int *owns_mpi)
{
    int initialized = 0, finalized = 0;
    MPI_Initialized(&initialized);
    MPI_Finalized(&finalized);
    if (finalized)
        return mdsm_fail(MDSM_ERR_MPI, "mdsm_init: MPI has already been finalised");
    int need = required_thread_level(s), provided = MPI_THREAD_SINGLE;
    *owns_mpi = !initialized;
    if (!initialized) {
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_MULTIPLE, &provided) != MPI_SUCCESS)
            return mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_init: MPI_Init_thread failed");
    } else {
        MPI_Query_thread(&provided);
    }
    mdsm_life.any_thread = provided == MPI_THREAD_MULTIPLE;
    mdsm_life.init_thread = pthread_self();
    if (provided < need)
        return mdsm_fail(MDSM_ERR_THREAD_LEVEL,
                         "mdsm_init: MPI provides %s but mdsm needs %s (MDSM_PROGRESS=thread); "
                         "initialise MPI with MPI_Init_thread(MPI_THREAD_MULTIPLE) or set "
                         "MDSM_PROGRESS=auto",
                         thread_level_name(provided), thread_level_name(need));
    return MDSM_OK;
}

/* Local tables of every module; collective only through the final agreement. */
static int start_local(struct mdsm_context *ctx)
{
    const struct mdsm_settings *s = &ctx->config.s;
    ctx->scratch_heads = calloc((size_t)ctx->nranks, sizeof(uint64_t));
    ctx->barrier_heads = calloc((size_t)ctx->nranks, sizeof(uint64_t));
    if (!ctx->scratch_heads || !ctx->barrier_heads)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "mdsm_init: scratch");
    int rc = cache_init(s, notice_append);
    if (rc != MDSM_OK)
        return rc;
    rc = notice_init(ctx->rank, ctx->nranks, mdsm_space.npages);
    if (rc != MDSM_OK)
        return rc;
    return lock_init(ctx->comm, ctx->rank, ctx->nranks, s->num_locks);
}

static void stop_local(struct mdsm_context *ctx)
{
    lock_fini();
    notice_fini();
    cache_fini();
    free(ctx->scratch_heads);
    free(ctx->barrier_heads);
    ctx->scratch_heads = NULL;
    ctx->barrier_heads = NULL;
}

/* How long the probe's target computes at most. Only a transport that needs
 * progress makes init wait this long, once. */
#define PROBE_LIMIT_MS 100

/* All of mdsm's ranks share this rank's node: the same on every rank. */
static int one_node(const struct mdsm_context *ctx)
{
    MPI_Comm node = topo_node_comm();
    int size = 0;
    return node != MPI_COMM_NULL && MPI_Comm_size(node, &size) == MPI_SUCCESS &&
           size == ctx->nranks;
}

/* Whether other ranks reach this rank's memory through MPI one-sided calls
 * that some transports serve only when this rank enters MPI. On one node MPI
 * is asked: on the meta window, which holds the locks and notices, and on
 * the home window too where pages move by RMA (node sharing off); where
 * every rank uses every home page in place, pages are loads and stores and
 * atomics the CPU's. Across nodes, always. Collective. */
static int progress_needed(const struct mdsm_context *ctx, int *probed)
{
    *probed = 0;
    if (ctx->nranks == 1)
        return 0;
    if (!one_node(ctx)) /* the same on every rank; MDSM_PROGRESS may differ */
        return 1;
    struct rma_probe pr = {
        .meta_off = mdsm_meta.probe,
        .meta_local = meta_local32(mdsm_meta.probe),
        .home = !mdsm_space.untracked,
        .page_size = mdsm_space.page_size,
        .home_disp = space_scratch_disp(),
        .home_local = space_scratch(),
        .limit_ms = PROBE_LIMIT_MS,
    };
    int served = 0;
    if (rma_serves_passive(ctx->comm, &pr, &served) != MDSM_OK)
        return 1; /* said why; the thread is the safe side */
    *probed = served;
    return !served;
}

static enum progress_mode progress_mode(const struct mdsm_context *ctx)
{
    const struct mdsm_settings *s = &ctx->config.s;
    int probed = 0, needed = progress_needed(ctx, &probed);
    if (s->progress == MDSM_PROGRESS_THREAD)
        return PROGRESS_THREAD;
    if (!needed)
        return probed ? PROGRESS_NOT_NEEDED_SERVED : PROGRESS_NOT_NEEDED;
    if (s->progress == MDSM_PROGRESS_OFF)
        return PROGRESS_OFF_ASKED;
    return mdsm_life.any_thread ? PROGRESS_THREAD_NEEDED : PROGRESS_OFF_THREAD_LEVEL;
}

/* Brings up the DSM on ctx->comm: space, windows, tables, fault handler and
 * progress. Collective; every rank returns the same status. */
static int start_dsm(struct mdsm_context *ctx)
{
    const struct mdsm_settings *s = &ctx->config.s;
    int rc = space_init(s, ctx->comm, ctx->rank, ctx->nranks);
    if (rc == MDSM_OK) {
        /* Before first touch. The node file, shared by the node's ranks, is
         * left to first touch: binding ranges of it would split mappings. */
        topo_place_home(mdsm_space.cache_view, mdsm_space.size);
        if (mdsm_space.sharing)
            topo_home_shared(mdsm_space.node_nranks);
        rc = start_local(ctx);
        if (rc != MDSM_OK)
            stop_local(ctx);
    }
    int all = mdsm_agree(ctx->comm, rc, "mdsm_init");
    if (all != MDSM_OK) {
        if (rc == MDSM_OK) {
            stop_local(ctx);
            space_fini();
        } else if (mdsm_space.base) {
            space_fini();
        }
        return all;
    }
    meta_layout_compute(ctx->nranks, s->num_locks);
    rc = rma_init(ctx->comm, mdsm_space.arena, mdsm_space.arena_size, mdsm_meta.size,
                  mdsm_meta.stripes, META_STRIPES, &mdsm_meta_base);
    rc = mdsm_agree(ctx->comm, rc, "mdsm_init");
    if (rc != MDSM_OK) {
        rma_fini();
        goto err_local;
    }
    /* progress_start is collective (it duplicates comm): every rank calls it. */
    rc = progress_start(ctx->comm, progress_mode(ctx), s->progress_interval_us);
    if (rc == MDSM_OK)
        rc = fault_install();
    rc = mdsm_agree(ctx->comm, rc, "mdsm_init");
    if (rc != MDSM_OK)
        goto err_fault;
    stats_zero();
    return MDSM_OK;

err_fault:
    progress_stop();
    fault_uninstall();
    rma_fini();
err_local:
    stop_local(ctx);
    space_fini();
    return rc;
}

/* The handler and the reserved range outlive the session, to name stale accesses. */
static void stop_dsm(struct mdsm_context *ctx)
{
    wd_stop();
    progress_stop();
    fault_retire();
    rma_fini();
    stop_local(ctx);
    space_retire();
    topo_fini();
}

int mdsm_init(MPI_Comm comm, const mdsm_config_t *cfg)
{
    if (mdsm_life.forked)
        return forked_error("mdsm_init");
    static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
    pthread_once(&fork_once, register_fork_handler);
    if (mdsm_ctx.initialized)
        return mdsm_fail(MDSM_ERR_ALREADY_INITIALIZED, "mdsm_init called twice");

    /* Local checks first; the ranks agree on their outcome once MPI is usable. */
    struct mdsm_context ctx = {0};
    mdsm_log_set_level(mdsm_config_env_log_level());
    int rc = mdsm_config_resolve(cfg, &ctx.config);
    int mpi_rc =
        setup_mpi(rc == MDSM_OK ? &ctx.config.s : &(struct mdsm_settings){0}, &ctx.owns_mpi);
    int mpi_usable = mpi_rc == MDSM_OK || mpi_rc == MDSM_ERR_THREAD_LEVEL;
    if (rc == MDSM_OK)
        rc = mpi_rc;
    if (!mpi_usable)
        return rc; /* no MPI to agree over */
    if (comm == MPI_COMM_NULL) {
        rc = mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_init: comm is MPI_COMM_NULL");
        goto err_finalize_mpi;
    }

    /* From here on every step is collective: a rank left waiting in one is
     * reported too. */
    if (rc == MDSM_OK) {
        int r = 0;
        MPI_Comm_rank(comm, &r);
        rc = wd_start(r, ctx.config.s.watchdog_s);
    }
    wd_call(WD_COLLECTIVE, "mdsm_init", -1, NULL);

    /* Agreement happens on the caller's communicator: ranks disagree only on
     * local conditions (environment, thread level), never on comm. Settings
     * that must agree are compared before anything is set up. */
    rc = agree_on_settings(comm, rc, &ctx.config);
    if (rc != MDSM_OK)
        goto err_finalize_mpi;

    if (MPI_Comm_dup(comm, &ctx.comm) != MPI_SUCCESS) {
        rc = mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_init: MPI_Comm_dup failed");
        goto err_finalize_mpi;
    }
    MPI_Comm_set_errhandler(ctx.comm, MPI_ERRORS_RETURN);
    MPI_Comm_rank(ctx.comm, &ctx.rank);
    MPI_Comm_size(ctx.comm, &ctx.nranks);

    /* The modules read the session from mdsm_ctx while they start. Binding
     * comes first, so that memory and threads start where they will stay. */
    mdsm_ctx = ctx;
    rc = mdsm_agree(ctx.comm, topo_init(ctx.comm, ctx.config.s.bind), "mdsm_init");
    if (rc == MDSM_OK)
        rc = start_dsm(&mdsm_ctx);
    if (rc != MDSM_OK) {
        topo_fini();
        MPI_Comm_free(&mdsm_ctx.comm);
        memset(&mdsm_ctx, 0, sizeof(mdsm_ctx));
        goto err_finalize_mpi;
    }
    wd_end(&wd_api);
    mdsm_ctx.initialized = 1;
    mdsm_life.finalized = 0;
    mdsm_log_set_rank(ctx.rank);
    mdsm_config_set_active(&mdsm_ctx.config);
    mdsm_config_warn_unknown();
    MDSM_INFO("initialised on %d ranks", ctx.nranks);
    return MDSM_OK;

err_finalize_mpi:
    wd_end(&wd_api);
    wd_stop();
    if (ctx.owns_mpi)
        MPI_Finalize();
    mdsm_log_set_level(MDSM_LOG_WARN);
    return rc;
}

int mdsm_collective_begin(const char *call)
{
    int rc = check_initialized(call, 1);
    if (rc != MDSM_OK)
        return rc;
    int idle = 0;
    if (!__atomic_compare_exchange_n(&mdsm_life.in_collective, &idle, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return mdsm_fail(MDSM_ERR_CONCURRENT,
                         "%s: another thread of this rank is inside mdsm_barrier, mdsm_alloc, "
                         "mdsm_free or mdsm_finalize; collective calls come from one thread "
                         "of a rank at a time",
                         call);
    return MDSM_OK;
}

void mdsm_collective_end(void)
{
    __atomic_store_n(&mdsm_life.in_collective, 0, __ATOMIC_RELEASE);
}

int mdsm_finalize(void)
{
    int rc = mdsm_collective_begin("mdsm_finalize");
    if (rc != MDSM_OK)
        return rc;
    wd_call(WD_COLLECTIVE, "mdsm_finalize", -1, NULL);
    MPI_Request req;
    if (MPI_Ibarrier(mdsm_ctx.comm, &req) != MPI_SUCCESS ||
        progress_wait_request(&req) != MPI_SUCCESS)
        rc = mdsm_fail_internal(MDSM_ERR_MPI, "mdsm_finalize: MPI_Ibarrier failed");
    wd_end(&wd_api);
    if (mdsm_ctx.config.s.stats)
        mdsm_stats_print();
    stop_dsm(&mdsm_ctx);
    MPI_Comm_free(&mdsm_ctx.comm);
    int owns_mpi = mdsm_ctx.owns_mpi;
    mdsm_config_set_active(NULL);
    memset(&mdsm_ctx, 0, sizeof(mdsm_ctx));
    mdsm_life.finalized = 1;
    mdsm_log_set_rank(-1);
    mdsm_log_set_level(MDSM_LOG_WARN);
    mdsm_collective_end();
    if (owns_mpi)
        MPI_Finalize();
    return rc;
}

int mdsm_initialized(void)
{
    return mdsm_ctx.initialized && !mdsm_life.forked;
}

int mdsm_rank(void)
{
    int rc = mdsm_check_session("mdsm_rank");
    return rc == MDSM_OK ? mdsm_ctx.rank : rc;
}

int mdsm_nranks(void)
{
    int rc = mdsm_check_session("mdsm_nranks");
    return rc == MDSM_OK ? mdsm_ctx.nranks : rc;
}
