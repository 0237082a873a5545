/* MCS queue locks with message handover. The queue's tail lives at the
 * lock's home and is the only word touched with an RMA atomic: one swap to
 * join, one compare-and-swap to leave an empty queue. Everything between
 * neighbours travels as point-to-point messages on mdsm's communicator: a
 * waiter tells its predecessor it is there (LINK), and the releaser hands the
 * lock on with its notice vector in the same message (GRANT). Across hosts an
 * RMA atomic costs several round trips (Open MPI 4.1's osc ucx wraps each in
 * a target-side lock), while a small message is one way and needs no reply.
 *
 * Tail values (int32): 0 free; r+1 rank r is last in the queue; -(r+1) free,
 * last released by r. When the queue empties, the releaser's vector is stored
 * at the home for the next holder, encoded as in grants (the ranks that wrote
 * since the last barrier), unless the home already has this rank's unchanged
 * vector (then both the store and the next fetch are skipped).
 *
 * Threads: a rank takes part in a lock's queue once at a time. A thread that
 * wants a lock another thread of its rank holds or is queued for waits here,
 * locally, until that one's mdsm_unlock is over, then queues itself. The lock
 * table and the link receive are guarded by the sync mutex (sync_enter),
 * dropped for every wait on another rank. Grants travel on a tag per lock, so
 * that threads waiting for different locks of one predecessor get their own,
 * into per-thread buffers. */
#include <pthread.h>
#include <stdlib.h>

#include "common/error.h"
#include "core/context.h"
#include "progress/progress.h"
#include "rma/rma.h"
#include "stats/stats.h"
#include "sync/lock.h"
#include "sync/meta.h"
#include "sync/notice.h"
#include "sync/sync.h"
#include "watchdog/watchdog.h"

#define TAG_LINK 0x6d01 /* int32 lock id: "I queued behind you" */
/* + lock id: uint64 [lock id, vector, notes]: "the lock is yours" */
#define TAG_GRANT_BASE 0x6d10

/* A grant also carries the latest write notices the releaser knows of each
 * rank (notice_pack_recent): a successor that misses only those reads no
 * log. Layout: [0] lock id, then the vector as notice_vector_encode writes
 * it (the ranks that wrote since the last barrier), then at most GRANT_PACK
 * words: 8 KiB, room for about 200 writers' last notices (3 + k words each),
 * where each writer left out costs the successor 2-3 gets on its way in. */
#define GRANT_PACK     1024
#define GRANT_WORDS(n) ((n) + 3 + GRANT_PACK)
/* A free lock's home vector is read in one get of this many words (the
 * encoding of up to 15 ranks that wrote since the barrier), a second get
 * bringing the rest of a longer one. */
#define VC_FIRST_WORDS 32

struct lock_state {
    uint8_t busy;          /* a thread of this rank is between its mdsm_lock and mdsm_unlock */
    uint8_t held;          /* in the queue (from before the swap): successors may link in */
    uint8_t home_has_mine; /* the home's vector is this rank's, stored at home_gen */
    int32_t succ;          /* rank+1 of the successor that linked in, or 0 */
    uint64_t home_gen;
    pthread_t owner; /* the busy thread */
};

static int me, n;
static MPI_Comm comm = MPI_COMM_NULL;
static struct lock_state *locks;
static pthread_cond_t freed = PTHREAD_COND_INITIALIZER; /* a lock stopped being busy */
static int32_t link_buf;
static MPI_Request link_req = MPI_REQUEST_NULL;

/* Per thread, grown to the session's rank count: the grant sent or received
 * (GRANT_WORDS(n)) and the vector read from or stored at a home. */
struct lock_buffers {
    size_t words;
    uint64_t *grant, *vc;
};
static pthread_key_t buffers_key;
static pthread_once_t buffers_once = PTHREAD_ONCE_INIT;

static void free_buffers(void *p)
{
    struct lock_buffers *b = p;
    free(b->grant);
    free(b->vc);
    free(b);
}

static void make_key(void)
{
    pthread_key_create(&buffers_key, free_buffers);
}

static struct lock_buffers *buffers(void)
{
    pthread_once(&buffers_once, make_key);
    struct lock_buffers *b = pthread_getspecific(buffers_key);
    if (b && b->words >= (size_t)GRANT_WORDS(n))
        return b;
    if (b) {
        pthread_setspecific(buffers_key, NULL);
        free_buffers(b);
    }
    b = calloc(1, sizeof(*b));
    if (b) {
        b->words = (size_t)GRANT_WORDS(n);
        b->grant = calloc(b->words, sizeof(uint64_t));
        b->vc = calloc((size_t)n, sizeof(uint64_t));
    }
    if (!b || !b->grant || !b->vc || pthread_setspecific(buffers_key, b) != 0) {
        if (b)
            free_buffers(b);
        mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "locks: this thread's buffers");
        return NULL;
    }
    return b;
}

int lock_init(MPI_Comm c, int rank, int nranks, int num_locks)
{
    me = rank;
    n = nranks;
    comm = c;
    int *tag_ub = NULL, flag = 0;
    MPI_Comm_get_attr(c, MPI_TAG_UB, &tag_ub, &flag);
    if (flag && tag_ub && (long long)*tag_ub < (long long)TAG_GRANT_BASE + num_locks - 1)
        return mdsm_fail(MDSM_ERR_CONFIG,
                         "MDSM_NUM_LOCKS=%d needs message tags up to %d, beyond this MPI's "
                         "MPI_TAG_UB (%d): use at most %d locks",
                         num_locks, TAG_GRANT_BASE + num_locks - 1, *tag_ub,
                         *tag_ub - TAG_GRANT_BASE + 1);
    locks = calloc((size_t)num_locks, sizeof(*locks));
    if (!locks) {
        lock_fini();
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "locks: tables");
    }
    if (MPI_Irecv(&link_buf, 1, MPI_INT32_T, MPI_ANY_SOURCE, TAG_LINK, comm, &link_req) !=
        MPI_SUCCESS) {
        lock_fini();
        return mdsm_fail_internal(MDSM_ERR_MPI, "locks: MPI_Irecv failed");
    }
    return MDSM_OK;
}

void lock_fini(void)
{
    if (link_req != MPI_REQUEST_NULL) {
        MPI_Cancel(&link_req);
        MPI_Wait(&link_req, MPI_STATUS_IGNORE);
    }
    free(locks);
    locks = NULL;
    comm = MPI_COMM_NULL;
}

static int mpi_failed(const char *what)
{
    return mdsm_fail_internal(MDSM_ERR_MPI, "%s failed", what);
}

/* Records every successor that has linked in so far (for any lock this rank
 * holds or is queued for: only those have it as predecessor). Under sync_enter. */
static int poll_links(void)
{
    for (;;) {
        int flag = 0;
        MPI_Status st;
        if (MPI_Test(&link_req, &flag, &st) != MPI_SUCCESS)
            return mpi_failed("locks: MPI_Test (link)");
        if (!flag)
            return MDSM_OK;
        if (link_buf < 0 || link_buf >= mdsm_meta.num_locks || !locks[link_buf].held ||
            locks[link_buf].succ != 0)
            return mdsm_fail_internal(MDSM_ERR_INTERNAL,
                                      "locks: unexpected link for lock %d from rank %d", link_buf,
                                      st.MPI_SOURCE);
        locks[link_buf].succ = st.MPI_SOURCE + 1;
        if (MPI_Irecv(&link_buf, 1, MPI_INT32_T, MPI_ANY_SOURCE, TAG_LINK, comm, &link_req) !=
            MPI_SUCCESS)
            return mpi_failed("locks: MPI_Irecv (link)");
    }
}

static int check_id(const char *call, int id)
{
    int rc = mdsm_check_initialized(call);
    if (rc != MDSM_OK)
        return rc;
    if (id < 0 || id >= mdsm_meta.num_locks)
        return mdsm_fail(MDSM_ERR_LOCK_ID, "%s(%d): lock ids are 0..%d", call, id,
                         mdsm_meta.num_locks - 1);
    return MDSM_OK;
}

int mdsm_num_locks(void)
{
    int rc = mdsm_check_initialized("mdsm_num_locks");
    return rc == MDSM_OK ? mdsm_meta.num_locks : rc;
}

/* Waits for the predecessor's grant of lock id (in grant, *words long). */
static int wait_grant(int id, int pred, uint64_t *grant, int *words)
{
    MPI_Request req;
    if (MPI_Irecv(grant, GRANT_WORDS(n), MPI_UINT64_T, pred, TAG_GRANT_BASE + id, comm, &req) !=
        MPI_SUCCESS)
        return mpi_failed("mdsm_lock: MPI_Irecv (grant)");
    int32_t link = id;
    wd_lock_step(WD_LOCK_LINK, pred);
    if (MPI_Send(&link, 1, MPI_INT32_T, pred, TAG_LINK, comm) != MPI_SUCCESS) {
        MPI_Cancel(&req);
        MPI_Wait(&req, MPI_STATUS_IGNORE);
        return mpi_failed("mdsm_lock: MPI_Send (link)");
    }
    stats_message(sizeof(link));
    wd_step(&wd_api, WD_LOCK_WAIT);
    struct progress_wait wait = {0, 0};
    MPI_Status st;
    for (;;) {
        int flag = 0;
        if (MPI_Test(&req, &flag, &st) != MPI_SUCCESS)
            return mpi_failed("mdsm_lock: MPI_Test (grant)");
        if (flag)
            break;
        progress_backoff(&wait);
    }
    if (MPI_Get_count(&st, MPI_UINT64_T, words) != MPI_SUCCESS || *words < 3 ||
        grant[0] != (uint64_t)id)
        return mdsm_fail_internal(MDSM_ERR_INTERNAL,
                                  "mdsm_lock(%d): rank %d granted lock %llu instead", id, pred,
                                  (unsigned long long)grant[0]);
    return MDSM_OK;
}

/* Makes the calling thread the one of this rank that takes part in lock id's
 * queue, waiting while another thread of the rank holds or wants it. */
static int claim(const char *call, int id)
{
    sync_enter();
    struct lock_state *l = &locks[id];
    if (l->busy && pthread_equal(l->owner, pthread_self())) {
        sync_exit();
        return mdsm_fail(MDSM_ERR_LOCK_HELD, "%s(%d): this thread holds it already", call, id);
    }
    while (l->busy)
        sync_wait(&freed);
    l->busy = 1;
    l->owner = pthread_self();
    l->held = 1; /* before the swap: a successor may link in as soon as it is done */
    l->succ = 0;
    sync_exit();
    return MDSM_OK;
}

static void unclaim(struct lock_state *l)
{
    sync_enter();
    l->held = 0;
    l->succ = 0;
    l->busy = 0;
    pthread_cond_broadcast(&freed);
    sync_exit();
}

/* Reads the vector a free lock's last releaser left at its home into buf
 * (META_VC_WORDS(n) words at most); *words: its length. */
static int home_vector(int home, int id, uint64_t *buf, int *words)
{
    int max = (int)META_VC_WORDS(n), first = max < VC_FIRST_WORDS ? max : VC_FIRST_WORDS;
    int rc = rma_meta_get(home, meta_vc(id), buf, (size_t)first * sizeof(uint64_t));
    int need = rc == MDSM_OK ? notice_vector_words(buf, first) : 0;
    if (rc == MDSM_OK && (need < 0 || need > max))
        return mdsm_fail_internal(MDSM_ERR_INTERNAL, "mdsm_lock(%d): a malformed vector at rank %d",
                                  id, home);
    if (rc == MDSM_OK && need > first)
        rc = rma_meta_get(home, meta_vc(id) + (size_t)first * sizeof(uint64_t), buf + first,
                          (size_t)(need - first) * sizeof(uint64_t));
    *words = need > first ? need : first;
    return rc;
}

int mdsm_lock(int id)
{
    int rc = check_id("mdsm_lock", id);
    if (rc != MDSM_OK)
        return rc;
    struct lock_buffers *b = buffers();
    if (!b)
        return MDSM_ERR_NO_MEMORY;
    double t0 = mdsm_now();
    rc = claim("mdsm_lock", id);
    if (rc != MDSM_OK)
        return rc;
    struct lock_state *l = &locks[id];
    int home = meta_lock_home(id);
    int32_t prev = 0;
    wd_lock(WD_LOCK_ENQUEUE, id, home, -1);
    rc = rma_meta_swap32(home, meta_tail(id), me + 1, &prev);
    if (rc != MDSM_OK) {
        unclaim(l);
        wd_end(&wd_api);
        return rc;
    }
    /* In the queue: the lock will be ours even if a step below fails, so
     * that mdsm_unlock can still hand it on. */
    const uint64_t *target = NULL;
    int pred = -1, grant_words = 0;
    l->home_has_mine = prev == -(me + 1);
    if (prev > 0) {
        pred = prev - 1;
        rc = wait_grant(id, pred, b->grant, &grant_words);
        target = b->vc;
    } else if (!l->home_has_mine) {
        wd_step(&wd_api, WD_LOCK_CATCH_UP);
        rc = home_vector(home, id, b->grant, &grant_words);
        target = b->vc;
    } /* else the home holds this rank's own vector: nothing new to catch up with */
    wd_step(&wd_api, WD_LOCK_CATCH_UP);
    sync_enter();
    int used = 0;
    if (rc == MDSM_OK && target)
        rc = pred >= 0 ? notice_vector_decode(b->grant + 1, grant_words - 1, b->vc, &used)
                       : notice_vector_decode(b->grant, grant_words, b->vc, &used);
    if (rc == MDSM_OK && pred >= 0)
        rc = notice_catch_up_packed(target, b->grant + 1 + used, grant_words - 1 - used);
    else if (rc == MDSM_OK && target)
        rc = notice_catch_up(target, 1);
    mdsm_stat.lock_acquires++;
    mdsm_stat.lock_wait_s += mdsm_now() - t0;
    sync_exit();
    wd_end(&wd_api);
    return rc;
}

/* Sends the lock and this rank's vector to the successor. */
static int hand_on(int id, int succ, uint64_t *grant)
{
    sync_enter();
    grant[0] = (uint64_t)id;
    int words = 1 + notice_vector_encode(grant + 1);
    words += notice_pack_recent(grant + words, GRANT_PACK);
    sync_exit();
    if (MPI_Send(grant, words, MPI_UINT64_T, succ, TAG_GRANT_BASE + id, comm) != MPI_SUCCESS)
        return mpi_failed("mdsm_unlock: MPI_Send (grant)");
    stats_message((uint64_t)words * sizeof(*grant));
    return MDSM_OK;
}

/* Records the links that came in (under sync_enter); *succ = lock l's successor. */
static int links(struct lock_state *l, int *succ)
{
    sync_enter();
    int rc = poll_links();
    *succ = l->succ;
    sync_exit();
    return rc;
}

/* The queue looks empty: leave the vector at the home, then try to mark the
 * lock free. Returns the successor's rank+1 if one joined meanwhile, else 0. */
static int leave(int id, struct lock_state *l, uint64_t *vec, int *succ)
{
    int home = meta_lock_home(id);
    *succ = 0;
    wd_step(&wd_api, WD_UNLOCK_TAIL);
    sync_enter();
    uint64_t gen = notice_vector_gen();
    int store = !l->home_has_mine || l->home_gen != gen;
    int words = store ? notice_vector_encode(vec) : 0;
    sync_exit();
    if (store) {
        int rc = rma_meta_put(home, meta_vc(id), vec, (size_t)words * sizeof(uint64_t));
        if (rc != MDSM_OK)
            return rc;
        l->home_gen = gen;
    }
    int32_t old = 0;
    int rc = rma_meta_cas32(home, meta_tail(id), me + 1, -(me + 1), &old);
    if (rc != MDSM_OK)
        return rc;
    if (old == me + 1)
        return MDSM_OK;
    /* A successor swapped itself in: wait for its link. */
    wd_lock_step(WD_UNLOCK_SUCCESSOR, old > 0 ? old - 1 : -1);
    struct progress_wait wait = {0, 0};
    while ((rc = links(l, succ)) == MDSM_OK && *succ == 0)
        progress_backoff(&wait);
    return rc;
}

int mdsm_unlock(int id)
{
    int rc = check_id("mdsm_unlock", id);
    if (rc != MDSM_OK)
        return rc;
    struct lock_state *l = &locks[id];
    sync_enter();
    int mine = l->busy && pthread_equal(l->owner, pthread_self());
    int other = l->busy && !mine;
    sync_exit();
    if (!mine)
        return mdsm_fail(MDSM_ERR_NOT_LOCK_HOLDER, "mdsm_unlock(%d): %s", id,
                         other ? "another thread of this rank holds it, not this one"
                               : "this rank does not hold it");
    /* This thread's mdsm_lock made them, for this session's rank count:
     * returned as they are, never NULL here. */
    struct lock_buffers *b = buffers();
    /* Hand the lock on even if the release failed: waiting ranks must not
     * hang. Its error is reported once the handover is done. */
    wd_lock(WD_UNLOCK_RELEASE, id, meta_lock_home(id), -1);
    int release_rc = sync_release(1);
    int succ = 0;
    rc = links(l, &succ);
    if (rc == MDSM_OK && succ == 0)
        rc = leave(id, l, b->grant, &succ);
    if (rc == MDSM_OK && succ != 0) {
        l->home_has_mine = 0; /* the successor's vector will replace ours there */
        wd_lock_step(WD_UNLOCK_HANDOVER, succ - 1);
        rc = hand_on(id, succ - 1, b->grant);
    }
    wd_end(&wd_api);
    unclaim(l);
    return rc != MDSM_OK ? rc : release_rc;
}
