#include "rma/rma.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "progress/progress.h"
#include "rma/quirks.h"
#include "stats/stats.h"

int rma_atomics_emulated;

static MPI_Win home_win = MPI_WIN_NULL, meta_win = MPI_WIN_NULL;
/* Alone in the communicator every home page is local: with
 * QUIRK_SOLO_WITHOUT_WINDOW the arena is used directly. */
static char *solo_arena;
static size_t stripes_at;
static int stripes;

/* Targets with operations issued but not yet flushed, per window. Each is
 * flushed with MPI_Win_flush: MPI_Win_flush_all returned, under MPICH 4.0.2
 * (ch4:ucx), before a put had read its source (the page's later contents
 * arrived at the home), and a release touches few homes anyway. The caller
 * serialises each window's tracked operations (home: the cache mutex; meta:
 * the sync mutex). */
struct pending {
    uint8_t *marked; /* per rank */
    int *list;
    int n;
};
static struct pending home_pending, meta_pending;

/* The diff extent not yet issued: runs that continue each other at both ends
 * (the end of one page and the start of the next of the same home, say) go
 * as one contiguous put. No datatype: osc rdma and osc ucx move a derived
 * datatype as one transfer per contiguous block anyway, at the same cost per
 * block as separate puts (measured: 1.5 us per block on one node, 8.2 us
 * across hosts, either way), and building one costs a malloc and a commit. */
static struct {
    int rank;
    const char *origin;
    uint64_t disp;
    size_t len;
    int failed; /* an issue failed: reported by the next rma_flush_home */
} extent;

/* Sharer bytes set by one accumulate. */
#define MARK_CHUNK 1024

static uint8_t ones[MARK_CHUNK]; /* set at rma_init */

/* One put stays within MPI's int count. */
#define EXTENT_MAX ((size_t)1 << 30)

#define MPI_TRY(call, what)                                                                        \
    do {                                                                                           \
        int mpi_rc_ = (call);                                                                      \
        if (mpi_rc_ != MPI_SUCCESS)                                                                \
            return mpi_error(mpi_rc_, what);                                                       \
    } while (0)

static int mpi_error(int code, const char *what)
{
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(code, msg, &len);
    return mdsm_fail_internal(MDSM_ERR_MPI, "%s failed: %s", what, msg);
}

/* QUIRK_WINDOW_RETRY: Open MPI 4.1 can fail to create a window when disjoint
 * communicators on one node create theirs at the same moment (their
 * shared-memory segments collide; seen with split communicators). The failure
 * is collective, so the ranks agree on each attempt and try again after a
 * short pause. */
#define WINDOW_ATTEMPTS 5

static int all_ok(MPI_Comm comm, int ok)
{
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, comm);
    return all;
}

/* Creates the home window (over arena) or the meta window (allocated into
 * *meta_base), retrying as above. */
static int create_window(MPI_Comm comm, int home, void *arena, size_t size, char **meta_base)
{
    MPI_Win *win = home ? &home_win : &meta_win;
    const char *what = home ? "MPI_Win_create (home pages)" : "MPI_Win_allocate (metadata)";
    int attempts = quirk_active(QUIRK_WINDOW_RETRY) ? WINDOW_ATTEMPTS : 1;
    if (!home && quirk_active(QUIRK_WIN_ALLOCATE_PAD))
        size = (size + 63) & ~(size_t)63;
    for (int attempt = 1;; attempt++) {
        int mrc = home ? MPI_Win_create(arena, (MPI_Aint)size, 1, MPI_INFO_NULL, comm, win)
                       : MPI_Win_allocate((MPI_Aint)size, 1, MPI_INFO_NULL, comm, meta_base, win);
        int ok = mrc == MPI_SUCCESS;
        if (all_ok(comm, ok))
            return MDSM_OK;
        if (ok)
            MPI_Win_free(win);
        if (attempt == attempts)
            return mdsm_fail_internal(MDSM_ERR_MPI, "%s failed %d time(s)", what, attempt);
        MDSM_INFO("%s failed; trying again", what);
        usleep((useconds_t)attempt * 2000);
    }
}

static int pending_init(struct pending *p, int nranks)
{
    p->marked = calloc((size_t)nranks, 1);
    p->list = malloc((size_t)nranks * sizeof(*p->list));
    p->n = 0;
    return p->marked && p->list ? MDSM_OK
                                : mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "rma: pending targets");
}

static void pending_fini(struct pending *p)
{
    free(p->marked);
    free(p->list);
    memset(p, 0, sizeof(*p));
}

static void pending_note(struct pending *p, int rank)
{
    if (!p->marked[rank]) {
        p->marked[rank] = 1;
        p->list[p->n++] = rank;
    }
}

/* Flushes every pending target; those not flushed stay pending. */
static int pending_flush(struct pending *p, MPI_Win win, const char *what)
{
    while (p->n > 0) {
        int rank = p->list[p->n - 1];
        MPI_TRY(MPI_Win_flush(rank, win), what);
        p->marked[rank] = 0;
        p->n--;
    }
    return MDSM_OK;
}

int rma_init(MPI_Comm comm, void *arena, size_t arena_size, size_t meta_size, size_t stripe_off,
             int nstripes, char **meta_base)
{
    int size;
    MPI_Comm_size(comm, &size);
    if (pending_init(&home_pending, size) != MDSM_OK ||
        pending_init(&meta_pending, size) != MDSM_OK) {
        pending_fini(&home_pending);
        pending_fini(&meta_pending);
        return MDSM_ERR_NO_MEMORY;
    }
    solo_arena = size == 1 && quirk_active(QUIRK_SOLO_WITHOUT_WINDOW) ? arena : NULL;
    int rc = solo_arena ? MDSM_OK : create_window(comm, 1, arena, arena_size, NULL);
    if (rc != MDSM_OK)
        return rc;
    rc = create_window(comm, 0, NULL, meta_size, meta_base);
    if (rc != MDSM_OK) {
        if (home_win != MPI_WIN_NULL)
            MPI_Win_free(&home_win);
        return rc;
    }
    if (!solo_arena) {
        MPI_Win_set_errhandler(home_win, MPI_ERRORS_RETURN);
        MPI_Win_lock_all(MPI_MODE_NOCHECK, home_win);
    }
    MPI_Win_set_errhandler(meta_win, MPI_ERRORS_RETURN);
    memset(*meta_base, 0, meta_size);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, meta_win);
    memset(ones, 1, sizeof(ones));
    stripes_at = stripe_off;
    stripes = nstripes;
    rma_atomics_emulated = quirk_active(QUIRK_ATOMICS64_EMULATED);
    return MDSM_OK;
}

void rma_fini(void)
{
    if (home_win != MPI_WIN_NULL) {
        MPI_Win_unlock_all(home_win);
        MPI_Win_free(&home_win);
    }
    solo_arena = NULL;
    if (meta_win != MPI_WIN_NULL) {
        MPI_Win_unlock_all(meta_win);
        MPI_Win_free(&meta_win);
    }
    pending_fini(&home_pending);
    pending_fini(&meta_pending);
    memset(&extent, 0, sizeof(extent));
}

int rma_get(int rank, uint64_t disp, void *buf, size_t len)
{
    if (solo_arena) {
        memcpy(buf, solo_arena + disp, len);
        return MDSM_OK;
    }
    MPI_TRY(MPI_Get(buf, (int)len, MPI_BYTE, rank, (MPI_Aint)disp, (int)len, MPI_BYTE, home_win),
            "MPI_Get (page)");
    stats_rma(1, len);
    MPI_TRY(MPI_Win_flush(rank, home_win), "MPI_Win_flush (page)");
    return MDSM_OK;
}

static int put_contig(int rank, uint64_t disp, const char *origin, size_t len)
{
    MPI_TRY(MPI_Put(origin, (int)len, MPI_BYTE, rank, (MPI_Aint)disp, (int)len, MPI_BYTE, home_win),
            "MPI_Put (diff)");
    stats_rma(1, len);
    return MDSM_OK;
}

static void issue_extent(void)
{
    if (extent.len == 0)
        return;
    if (put_contig(extent.rank, extent.disp, extent.origin, extent.len) == MDSM_OK)
        pending_note(&home_pending, extent.rank);
    else
        extent.failed = 1;
    extent.len = 0;
}

int rma_put_runs(int rank, uint64_t disp, const char *page, const struct mdsm_run *runs, int nruns)
{
    for (int i = 0; i < nruns; i++) {
        const char *origin = page + runs[i].off;
        uint64_t at = disp + runs[i].off;
        if (solo_arena) {
            memcpy(solo_arena + at, origin, runs[i].len);
            continue;
        }
        if (extent.len && extent.rank == rank && extent.origin + extent.len == origin &&
            extent.disp + extent.len == at && extent.len + runs[i].len <= EXTENT_MAX) {
            extent.len += runs[i].len;
            continue;
        }
        issue_extent();
        extent.rank = rank;
        extent.origin = origin;
        extent.disp = at;
        extent.len = runs[i].len;
    }
    return MDSM_OK;
}

int rma_flush_home(void)
{
    issue_extent();
    int rc = pending_flush(&home_pending, home_win, "MPI_Win_flush (home)");
    if (rc == MDSM_OK && extent.failed)
        rc = mdsm_fail_internal(MDSM_ERR_MPI, "MPI_Put (diff) failed");
    extent.failed = 0;
    return rc;
}

int rma_get_strided(int rank, uint64_t disp, char *buf, size_t len, uint64_t n, uint64_t stride)
{
    if (solo_arena) {
        for (uint64_t i = 0; i < n; i++)
            memcpy(buf + i * stride, solo_arena + disp + i * stride, len);
        return MDSM_OK;
    }
    for (uint64_t i = 0; i < n; i++)
        MPI_TRY(MPI_Get(buf + i * stride, (int)len, MPI_BYTE, rank, (MPI_Aint)(disp + i * stride),
                        (int)len, MPI_BYTE, home_win),
                "MPI_Get (pages)");
    stats_rma(n, n * len);
    MPI_TRY(MPI_Win_flush(rank, home_win), "MPI_Win_flush (pages)");
    return MDSM_OK;
}

int rma_mark(int rank, uint64_t disp, uint64_t count, uint64_t stride)
{
    if (solo_arena) {
        for (uint64_t i = 0; i < count; i++)
            __atomic_store_n((uint8_t *)(solo_arena + disp + i * stride), 1, __ATOMIC_SEQ_CST);
        return MDSM_OK;
    }
    uint64_t chunk = stride == 1 ? MARK_CHUNK : 1; /* apart, one byte per accumulate */
    for (uint64_t at = 0; at < count; at += chunk) {
        int n = count - at < chunk ? (int)(count - at) : (int)chunk;
        MPI_TRY(MPI_Accumulate(ones, n, MPI_UINT8_T, rank, (MPI_Aint)(disp + at * stride), n,
                               MPI_UINT8_T, MPI_REPLACE, home_win),
                "MPI_Accumulate (sharer bytes)");
        stats_rma(1, (uint64_t)n);
    }
    MPI_TRY(MPI_Win_flush(rank, home_win), "MPI_Win_flush (sharer bytes)");
    return MDSM_OK;
}

void rma_home_sync(void)
{
    if (solo_arena)
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
    else
        MPI_Win_sync(home_win);
}

/* Emulated atomics: a 32-bit spin lock per stripe at the target serialises
 * every 64-bit atomic on the locations that hash to it. The threads of a rank
 * first take a local mutex per stripe index, so that at most one of them
 * spins on a remote stripe lock and the others wait without network traffic;
 * the spin backs off as other waits do. */
#define LOCAL_STRIPES 64
static pthread_mutex_t local_stripe[LOCAL_STRIPES] = {[0 ... LOCAL_STRIPES - 1] =
                                                          PTHREAD_MUTEX_INITIALIZER};

static uint64_t stripe_index(uint64_t disp)
{
    return (disp >> 3) % (uint64_t)stripes;
}

static size_t stripe_of(uint64_t disp)
{
    return stripes_at + stripe_index(disp) * sizeof(int32_t);
}

static int stripe_lock(int rank, uint64_t disp)
{
    int32_t old = 1;
    struct progress_wait wait = {0, 0};
    for (;;) {
        int rc = rma_meta_cas32(rank, stripe_of(disp), 0, 1, &old);
        if (rc != MDSM_OK || old == 0)
            return rc;
        progress_backoff(&wait);
    }
}

static int stripe_unlock(int rank, uint64_t disp)
{
    int32_t old;
    return rma_meta_swap32(rank, stripe_of(disp), 0, &old);
}

/* Read-modify-write under the stripe lock: new = op(old). */
static int emulated_rmw_locked(int rank, uint64_t disp, int is_cas, int64_t a, int64_t b,
                               int64_t *old)
{
    int rc = stripe_lock(rank, disp);
    if (rc != MDSM_OK)
        return rc;
    int64_t cur;
    rc = rma_get(rank, disp, &cur, sizeof(cur));
    if (rc == MDSM_OK) {
        int64_t next = is_cas ? (cur == a ? b : cur) : (int64_t)((uint64_t)cur + (uint64_t)a);
        if (next != cur) {
            rc = put_contig(rank, disp, (const char *)&next, sizeof(next)); /* flushed here */
            if (rc == MDSM_OK)
                rc = MPI_Win_flush(rank, home_win) == MPI_SUCCESS
                         ? MDSM_OK
                         : mdsm_fail_internal(MDSM_ERR_MPI, "MPI_Win_flush (atomic)");
        }
        *old = cur;
    }
    int urc = stripe_unlock(rank, disp);
    return rc != MDSM_OK ? rc : urc;
}

static int emulated_rmw(int rank, uint64_t disp, int is_cas, int64_t a, int64_t b, int64_t *old)
{
    pthread_mutex_t *mu = &local_stripe[stripe_index(disp) % LOCAL_STRIPES];
    pthread_mutex_lock(mu);
    int rc = emulated_rmw_locked(rank, disp, is_cas, a, b, old);
    pthread_mutex_unlock(mu);
    return rc;
}

int rma_fetch_add64(int rank, uint64_t disp, int64_t value, int64_t *old)
{
    if (solo_arena) {
        *old = __atomic_fetch_add((int64_t *)(solo_arena + disp), value, __ATOMIC_SEQ_CST);
        return MDSM_OK;
    }
    if (rma_atomics_emulated)
        return emulated_rmw(rank, disp, 0, value, 0, old);
    MPI_TRY(MPI_Fetch_and_op(&value, old, MPI_INT64_T, rank, (MPI_Aint)disp, MPI_SUM, home_win),
            "MPI_Fetch_and_op");
    stats_rma(1, sizeof(value));
    MPI_TRY(MPI_Win_flush(rank, home_win), "MPI_Win_flush (atomic)");
    return MDSM_OK;
}

int rma_cas64(int rank, uint64_t disp, int64_t expected, int64_t desired, int64_t *old)
{
    if (solo_arena) {
        *old = expected;
        __atomic_compare_exchange_n((int64_t *)(solo_arena + disp), old, desired, 0,
                                    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
        return MDSM_OK;
    }
    if (rma_atomics_emulated)
        return emulated_rmw(rank, disp, 1, expected, desired, old);
    MPI_TRY(
        MPI_Compare_and_swap(&desired, &expected, old, MPI_INT64_T, rank, (MPI_Aint)disp, home_win),
        "MPI_Compare_and_swap");
    stats_rma(1, sizeof(desired));
    MPI_TRY(MPI_Win_flush(rank, home_win), "MPI_Win_flush (atomic)");
    return MDSM_OK;
}

int rma_meta_get_nb(int rank, size_t off, void *buf, size_t len)
{
    MPI_TRY(MPI_Get(buf, (int)len, MPI_BYTE, rank, (MPI_Aint)off, (int)len, MPI_BYTE, meta_win),
            "MPI_Get (meta)");
    stats_rma(1, len);
    pending_note(&meta_pending, rank);
    return MDSM_OK;
}

int rma_meta_flush_all(void)
{
    return pending_flush(&meta_pending, meta_win, "MPI_Win_flush (meta)");
}

int rma_meta_get(int rank, size_t off, void *buf, size_t len)
{
    MPI_TRY(MPI_Get(buf, (int)len, MPI_BYTE, rank, (MPI_Aint)off, (int)len, MPI_BYTE, meta_win),
            "MPI_Get (meta)");
    stats_rma(1, len);
    MPI_TRY(MPI_Win_flush(rank, meta_win), "MPI_Win_flush (meta)");
    return MDSM_OK;
}

int rma_meta_put(int rank, size_t off, const void *buf, size_t len)
{
    MPI_TRY(MPI_Put(buf, (int)len, MPI_BYTE, rank, (MPI_Aint)off, (int)len, MPI_BYTE, meta_win),
            "MPI_Put (meta)");
    stats_rma(1, len);
    MPI_TRY(MPI_Win_flush(rank, meta_win), "MPI_Win_flush (meta)");
    return MDSM_OK;
}

/* One flushed MPI_Fetch_and_op on the meta window. */
static int meta_fetch_op(int rank, size_t off, const void *value, void *old, MPI_Datatype type,
                         size_t len, MPI_Op op)
{
    MPI_TRY(MPI_Fetch_and_op(value, old, type, rank, (MPI_Aint)off, op, meta_win),
            "MPI_Fetch_and_op (meta)");
    stats_rma(1, len);
    MPI_TRY(MPI_Win_flush(rank, meta_win), "MPI_Win_flush (meta)");
    return MDSM_OK;
}

int rma_meta_swap32(int rank, size_t off, int32_t value, int32_t *old)
{
    return meta_fetch_op(rank, off, &value, old, MPI_INT32_T, sizeof(value), MPI_REPLACE);
}

int rma_meta_cas32(int rank, size_t off, int32_t expected, int32_t desired, int32_t *old)
{
    MPI_TRY(
        MPI_Compare_and_swap(&desired, &expected, old, MPI_INT32_T, rank, (MPI_Aint)off, meta_win),
        "MPI_Compare_and_swap (32-bit)");
    stats_rma(1, sizeof(desired));
    MPI_TRY(MPI_Win_flush(rank, meta_win), "MPI_Win_flush (meta)");
    return MDSM_OK;
}

int rma_meta_fetch_add64(int rank, size_t off, uint64_t value, uint64_t *old)
{
    return meta_fetch_op(rank, off, &value, old, MPI_UINT64_T, sizeof(value), MPI_SUM);
}

void rma_meta_sync(void)
{
    MPI_Win_sync(meta_win);
}
