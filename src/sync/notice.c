#include "sync/notice.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "common/error.h"
#include "rma/rma.h"
#include "sync/meta.h"

/* The caller holds the sync mutex (sync_enter) for everything but
 * notice_append, which writes the log under log_mu: the cache logs notices
 * from any thread's fault or release. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static int me, n;
static uint64_t head;       /* notices logged (published or not); written under log_mu */
static uint64_t *seen;      /* per rank: notices caught up with; seen[me] = published */
static uint32_t *scratch;   /* entries fetched in one batch */
static uint64_t *now_heads; /* slots written, re-read after fetching */
static uint64_t gen;        /* bumped when seen[] changes */
/* The release epoch read by the last notice_acquire that then caught up;
 * this rank's head when it last bumped the epoch (another thread's barrier
 * may have published what a release of this rank must still announce); and
 * whether a barrier is between its stage and its finish (its notices are
 * announced by no epoch, and this rank has not applied them yet). */
static uint64_t acquired_epoch;
static int acquired_valid;
static uint64_t announced;
static int in_barrier;
/* The latest entries of each other rank's log that this rank has applied,
 * [from, from + count) ending at seen[r] when current: handed on with locks. */
#define RECENT_MAX 32

/* A lock acquire that misses at most this many notices brings the pages
 * named up to date in place (cache_refresh) instead of dropping them: the
 * data the lock guards, which its holder reads next. More is not just that. */
#define REFRESH_MAX 16
static uint64_t refresh_left;   /* pages the catch-up under way may refresh */
static uint64_t last_refreshed; /* by it: a page named again (each writer logs it) is current */

static int apply(uint64_t page)
{
    if (refresh_left == 0)
        return cache_invalidate(page);
    refresh_left--;
    if (page == last_refreshed)
        return MDSM_OK;
    last_refreshed = page;
    return cache_refresh(page);
}

/* Sets refresh_left for a catch-up up to target: the notices missed, if few
 * and for a lock, else 0. */
static void plan_refresh(const uint64_t *target, int for_lock)
{
    uint64_t missed = 0;
    for (int r = 0; r < n && for_lock; r++)
        if (r != me && target[r] > seen[r])
            missed += target[r] - seen[r];
    refresh_left = for_lock && missed <= REFRESH_MAX ? missed : 0;
    last_refreshed = UINT64_MAX;
}
struct recent {
    uint64_t from;
    uint32_t count;
    uint32_t pages[RECENT_MAX];
};
static struct recent *recent;

/* The barrier exchange: every rank's head at the last barrier (the same on
 * every rank), this rank's entries since then, and what the exchange brings. */
static uint64_t *base;
static uint64_t barrier_epoch; /* mdsm_barrier's sequence number when base last changed */
static uint32_t *stage;
static uint32_t *gathered; /* GATHER_MAX entries: one round's */
static int *gather_counts, *gather_displs;
/* Entries per round of the exchange: fixed, so that a barrier never allocates
 * (a failure on one rank would leave the others in the collective); every
 * rank's share fits, since a writer past its ring's size sends none. */
#define GATHER_MAX (4 * META_LOG_CAP)

/* Ring overflow: page p is in region p >> region_shift. stamps holds a lapped
 * writer's stamps, fetched; stale_regions the regions to invalidate. */
static unsigned region_shift;
static uint64_t *stamps;
static uint8_t *stale_regions;
static int any_stale;

int notice_init(int rank, int nranks, uint64_t npages)
{
    me = rank;
    n = nranks;
    for (region_shift = 0; npages > 0 && (npages - 1) >> region_shift >= META_REGIONS;)
        region_shift++;
    any_stale = 0;
    head = 0;
    gen = 0;
    acquired_valid = 0;
    announced = 0;
    in_barrier = 0;
    barrier_epoch = 0;
    seen = calloc((size_t)nranks, sizeof(*seen));
    scratch = malloc(META_LOG_CAP * sizeof(*scratch));
    now_heads = calloc((size_t)nranks, sizeof(*now_heads));
    recent = calloc((size_t)nranks, sizeof(*recent));
    base = calloc((size_t)nranks, sizeof(*base));
    stage = malloc(META_LOG_CAP * sizeof(*stage));
    gathered = malloc(GATHER_MAX * sizeof(*gathered));
    gather_counts = calloc((size_t)nranks, sizeof(*gather_counts));
    gather_displs = calloc((size_t)nranks, sizeof(*gather_displs));
    stamps = malloc(META_REGIONS * sizeof(*stamps));
    stale_regions = calloc(META_REGIONS, 1);
    if (!stamps || !stale_regions || !gathered || !seen || !scratch || !now_heads || !recent ||
        !base || !stage || !gather_counts || !gather_displs) {
        notice_fini();
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "notices: tables");
    }
    return MDSM_OK;
}

void notice_fini(void)
{
    free(seen);
    free(scratch);
    free(now_heads);
    free(recent);
    free(base);
    free(stage);
    free(gathered);
    free(gather_counts);
    free(gather_displs);
    free(stamps);
    free(stale_regions);
    stamps = NULL;
    stale_regions = NULL;
    base = NULL;
    stage = NULL;
    gathered = NULL;
    gather_counts = gather_displs = NULL;
    recent = NULL;
    seen = NULL;
    scratch = NULL;
    now_heads = NULL;
}

static uint64_t *meta_word(size_t off)
{
    return (uint64_t *)(mdsm_meta_base + off);
}

void notice_append(uint64_t page)
{
    pthread_mutex_lock(&log_mu);
    uint32_t *log = (uint32_t *)(mdsm_meta_base + mdsm_meta.log);
    /* Announce the slot before overwriting it: a reader that fetched an old
     * entry from it then sees, re-reading this counter, that it was lapped,
     * even though the entries were not published yet. */
    __atomic_store_n(meta_word(mdsm_meta.written), head + 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    /* Published with the entry: notice_publish syncs before the head. */
    __atomic_store_n(meta_word(mdsm_meta.stamps + (page >> region_shift) * 8), head + 1,
                     __ATOMIC_RELAXED);
    log[head % META_LOG_CAP] = (uint32_t)page;
    __atomic_store_n(&head, head + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&log_mu);
}

int notice_publish(int announce)
{
    uint64_t h = __atomic_load_n(&head, __ATOMIC_ACQUIRE);
    if (h > seen[me]) {  /* else nothing new, or another thread published it */
        rma_meta_sync(); /* entries before the head that announces them */
        __atomic_store_n(meta_word(mdsm_meta.head), h, __ATOMIC_RELEASE);
        rma_meta_sync();
        gen++;
        seen[me] = h;
    }
    /* After the head: an acquirer that sees the new epoch reads the head next.
     * Notices another thread's barrier published are announced here too. */
    if (!announce || n == 1 || seen[me] <= announced)
        return MDSM_OK;
    uint64_t old;
    int rc = rma_meta_fetch_add64(0, mdsm_meta.epoch, 1, &old);
    if (rc == MDSM_OK)
        announced = seen[me];
    return rc;
}

const uint64_t *notice_vector(void)
{
    return seen;
}

uint64_t notice_vector_gen(void)
{
    return gen;
}

/* Records that entry index of r's log (named page) has been applied. */
static void remember(int r, uint64_t index, uint32_t page)
{
    struct recent *k = &recent[r];
    if (k->from + k->count != index) {
        k->from = index;
        k->count = 0;
    }
    if (k->count == RECENT_MAX) {
        memmove(k->pages, k->pages + 1, (RECENT_MAX - 1) * sizeof(k->pages[0]));
        k->from++;
        k->count--;
    }
    k->pages[k->count++] = page;
}

/* Appends range (r, from, count, pages) to out if it fits in max words. */
static int pack_range(uint64_t *out, int used, int max, int r, uint64_t from, uint32_t count,
                      const uint32_t *pages, const uint32_t *ring)
{
    if (count == 0 || used + 3 + (int)count > max)
        return used;
    out[used++] = (uint64_t)r;
    out[used++] = from;
    out[used++] = count;
    for (uint32_t i = 0; i < count; i++)
        out[used++] = ring ? ring[(from + i) % META_LOG_CAP] : pages[i];
    out[0]++;
    return used;
}

int notice_pack_recent(uint64_t *out, int max)
{
    if (max < 1)
        return 0;
    out[0] = 0;
    int used = 1;
    /* Only entries since the last barrier: every rank has the older ones. This
     * rank's own latest published entries come from its ring: intact while
     * fewer than a ring's worth were logged after them. */
    uint64_t since = seen[me] - base[me];
    uint64_t k = since < RECENT_MAX ? since : RECENT_MAX, from = seen[me] - k;
    if (__atomic_load_n(&head, __ATOMIC_ACQUIRE) - from <= META_LOG_CAP)
        used = pack_range(out, used, max, me, from, (uint32_t)k, NULL,
                          (const uint32_t *)(mdsm_meta_base + mdsm_meta.log));
    for (int r = 0; r < n; r++) {
        const struct recent *c = &recent[r];
        if (r == me || c->from + c->count != seen[r])
            continue;
        uint32_t skip = base[r] > c->from ? (uint32_t)(base[r] - c->from) : 0;
        if (skip < c->count)
            used = pack_range(out, used, max, r, c->from + skip, c->count - skip, c->pages + skip,
                              NULL);
    }
    return used;
}

/* Reads every rank's published head (one round of gets). */
static int read_heads(uint64_t *heads)
{
    for (int r = 0; r < n; r++) {
        if (r == me) {
            heads[r] = seen[me];
            continue;
        }
        int rc = rma_meta_get_nb(r, mdsm_meta.head, &heads[r], sizeof(uint64_t));
        if (rc != MDSM_OK)
            return rc;
    }
    return rma_meta_flush_all();
}

/* Starts fetching rank r's entries [from, to) into dst; the ring may wrap. */
static int fetch_entries(int r, uint64_t from, uint64_t to, uint32_t *dst)
{
    uint64_t count = to - from, start = from % META_LOG_CAP;
    uint64_t first = count < META_LOG_CAP - start ? count : META_LOG_CAP - start;
    int rc = rma_meta_get_nb(r, mdsm_meta.log + start * 4, dst, first * 4);
    if (rc == MDSM_OK && count > first)
        rc = rma_meta_get_nb(r, mdsm_meta.log, dst + first, (count - first) * 4);
    return rc;
}

/* Writer r lapped its ring past seen[r]: marks the regions it stamped since,
 * for invalidate_stale. If its stamps cannot be read, every region. Like the
 * log's entries, each stamp is an aligned 8-byte word read by MPI_Get while
 * its owner may store to it: a stamp only grows, and is read whole on every
 * transport MPI runs over here (MPI itself promises no atomicity for it). */
static int mark_lapped(int r)
{
    int rc = rma_meta_get_nb(r, mdsm_meta.stamps, stamps, META_REGIONS * sizeof(*stamps));
    if (rc == MDSM_OK)
        rc = rma_meta_flush_all();
    for (uint32_t i = 0; i < META_REGIONS; i++)
        stale_regions[i] |= rc != MDSM_OK || stamps[i] > seen[r];
    any_stale = 1;
    return rc;
}

static int region_stale(uint64_t page, const void *arg)
{
    return ((const uint8_t *)arg)[page >> region_shift];
}

static int invalidate_stale(void)
{
    if (!any_stale)
        return MDSM_OK;
    int rc = cache_invalidate_where(region_stale, stale_regions);
    if (rc == MDSM_OK) { /* a failed invalidation leaves its regions pending */
        memset(stale_regions, 0, META_REGIONS);
        any_stale = 0;
    }
    return rc;
}

/* One batch: ranks [r0, r1) whose missing entries fit in scratch together.
 * Two rounds of gets in all: the entries, then how many slots each writer has
 * written, because one that lapped its ring while we read (published or not)
 * leaves entries we cannot trust. */
static int catch_up_batch(const uint64_t *target, int r0, int r1)
{
    uint64_t at = 0;
    for (int r = r0; r < r1; r++) {
        if (r == me || target[r] <= seen[r])
            continue;
        int rc = fetch_entries(r, seen[r], target[r], scratch + at);
        if (rc != MDSM_OK)
            return rc;
        at += target[r] - seen[r];
    }
    int rc = rma_meta_flush_all();
    for (int r = r0; r < r1 && rc == MDSM_OK; r++)
        if (r != me && target[r] > seen[r])
            rc = rma_meta_get_nb(r, mdsm_meta.written, &now_heads[r], sizeof(uint64_t));
    if (rc == MDSM_OK)
        rc = rma_meta_flush_all();
    at = 0;
    for (int r = r0; r < r1 && rc == MDSM_OK; r++) {
        if (r == me || target[r] <= seen[r])
            continue;
        uint64_t count = target[r] - seen[r];
        int lapped = now_heads[r] - seen[r] > META_LOG_CAP;
        if (lapped)
            mark_lapped(r); /* a failure marks every region */
        for (uint64_t i = 0; i < count && rc == MDSM_OK && !lapped; i++)
            rc = apply(scratch[at + i]);
        if (rc == MDSM_OK && !lapped)
            for (uint64_t i = count > RECENT_MAX ? count - RECENT_MAX : 0; i < count; i++)
                remember(r, seen[r] + i, scratch[at + i]);
        at += count;
        if (rc == MDSM_OK) { /* a failed invalidation leaves the notices pending */
            seen[r] = target[r];
            gen++;
        }
    }
    return rc;
}

static int catch_up(const uint64_t *target);

int notice_catch_up_packed(const uint64_t *target, const uint64_t *packed, int words)
{
    int at = 1, rc = MDSM_OK;
    plan_refresh(target, 1);
    for (uint64_t i = 0; words > 0 && i < packed[0] && rc == MDSM_OK; i++) {
        if (at + 3 > words)
            break;
        uint64_t r = packed[at], from = packed[at + 1], count = packed[at + 2];
        const uint64_t *pages = packed + at + 3;
        if (r >= (uint64_t)n || count > (uint64_t)(words - at - 3))
            break; /* malformed: ignore the rest, the logs are still there */
        at += 3 + (int)count;
        if ((int)r == me || seen[r] < from || seen[r] >= from + count || target[r] != from + count)
            continue; /* not exactly what this rank misses of r's log */
        for (uint64_t j = seen[r] - from; j < count && rc == MDSM_OK; j++)
            rc = apply(pages[j]);
        if (rc != MDSM_OK)
            break; /* the notices stay pending */
        for (uint64_t j = seen[r] - from; j < count; j++)
            remember((int)r, from + j, (uint32_t)pages[j]);
        seen[r] = target[r];
        gen++;
    }
    if (rc != MDSM_OK) {
        acquired_valid = 0; /* notices left pending: the next acquire reads the heads */
        cache_flush();      /* what was dropped still goes home */
        return rc;
    }
    return catch_up(target);
}

static int catch_up(const uint64_t *target)
{
    int rc = MDSM_OK;
    /* Ranks that overran their ring since we last looked: their entries are
     * gone, their regions' stamps say where they wrote. */
    for (int r = 0; r < n; r++) {
        if (r != me && target[r] > seen[r] && target[r] - seen[r] > META_LOG_CAP) {
            mark_lapped(r);
            seen[r] = target[r];
            gen++;
        }
    }
    int r0 = 0;
    uint64_t batch = 0;
    for (int r = 0; r <= n && rc == MDSM_OK; r++) {
        uint64_t need = (r < n && r != me && target[r] > seen[r]) ? target[r] - seen[r] : 0;
        if (r == n || batch + need > META_LOG_CAP) {
            rc = catch_up_batch(target, r0, r);
            r0 = r;
            batch = 0;
        }
        batch += need;
    }
    int src = invalidate_stale();
    if (rc == MDSM_OK)
        rc = src;
    int frc = cache_flush(); /* dirty copies dropped above went home */
    if (rc != MDSM_OK || frc != MDSM_OK)
        acquired_valid = 0; /* notices left pending: the next acquire reads the heads */
    return rc != MDSM_OK ? rc : frc;
}

int notice_catch_up(const uint64_t *target, int for_lock)
{
    plan_refresh(target, for_lock);
    return catch_up(target);
}

int notice_acquire(uint64_t *heads)
{
    /* The epoch first: a release announced after this read moves it again,
     * and one announced before it published its head before announcing. */
    uint64_t epoch = 0;
    int rc = n > 1 ? rma_meta_fetch_add64(0, mdsm_meta.epoch, 0, &epoch) : MDSM_OK;
    if (rc != MDSM_OK || (acquired_valid && !in_barrier && epoch == acquired_epoch))
        return rc;
    rc = read_heads(heads);
    if (rc == MDSM_OK)
        rc = notice_catch_up(heads, 0);
    if (rc == MDSM_OK) {
        acquired_epoch = epoch;
        acquired_valid = 1;
    }
    return rc;
}

uint64_t notice_barrier_stage(const uint32_t **entries, int *count)
{
    uint64_t h = seen[me], from = base[me], c = h - from;
    const uint32_t *log = (const uint32_t *)(mdsm_meta_base + mdsm_meta.log);
    *entries = stage;
    *count = 0;
    in_barrier = 1; /* until notice_barrier_finish: acquires read the heads */
    if (c > META_LOG_CAP)
        return h | NOTICE_HEAD_LAPPED;
    for (uint64_t i = 0; i < c; i++)
        stage[i] = __atomic_load_n(&log[(from + i) % META_LOG_CAP], __ATOMIC_RELAXED);
    /* Other threads may be logging past the head: intact unless they lapped. */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (__atomic_load_n(meta_word(mdsm_meta.written), __ATOMIC_ACQUIRE) - from > META_LOG_CAP)
        return h | NOTICE_HEAD_LAPPED;
    *count = (int)c;
    return h;
}

static uint64_t exchanged(const uint64_t *heads, int r)
{
    return heads[r] & NOTICE_HEAD_LAPPED ? 0 : heads[r] - base[r];
}

int notice_barrier_writers(const uint64_t *heads)
{
    int w = 0;
    for (int r = 0; r < n; r++)
        w += (heads[r] & ~NOTICE_HEAD_LAPPED) > base[r];
    return w;
}

int notice_barrier_round(const uint64_t *heads, int r0, uint32_t **recv, const int **counts,
                         const int **displs)
{
    uint64_t total = 0;
    int r1 = r0;
    memset(gather_counts, 0, (size_t)n * sizeof(*gather_counts));
    memset(gather_displs, 0, (size_t)n * sizeof(*gather_displs));
    for (; r1 < n; r1++) {
        uint64_t c = exchanged(heads, r1); /* at most META_LOG_CAP: beyond it a writer lapped */
        if (r1 > r0 && total + c > GATHER_MAX)
            break;
        gather_counts[r1] = (int)c;
        gather_displs[r1] = (int)total;
        total += c;
    }
    *recv = gathered;
    *counts = gather_counts;
    *displs = gather_displs;
    return r1;
}

void notice_barrier_apply_round(const uint64_t *heads, int r0, int r1)
{
    refresh_left = 0; /* a barrier invalidates */
    for (int r = r0; r < r1; r++) {
        uint64_t h = heads[r] & ~NOTICE_HEAD_LAPPED;
        if (r == me || heads[r] & NOTICE_HEAD_LAPPED || h <= seen[r] || seen[r] < base[r])
            continue; /* nothing new, or not in the exchange (notice_barrier_finish) */
        const uint32_t *e = gathered + gather_displs[r]; /* entry base[r] */
        int rc = MDSM_OK;
        for (uint64_t i = seen[r]; i < h && rc == MDSM_OK; i++)
            rc = apply(e[i - base[r]]);
        if (rc != MDSM_OK)
            continue; /* left behind: notice_barrier_finish reads its log */
        for (uint64_t i = h - base[r] > RECENT_MAX ? h - RECENT_MAX : base[r]; i < h; i++)
            remember(r, i, e[i - base[r]]);
        seen[r] = h;
        gen++;
    }
}

int notice_barrier_finish(uint64_t *heads, uint64_t seq)
{
    for (int r = 0; r < n; r++) {
        uint64_t h = heads[r] & ~NOTICE_HEAD_LAPPED;
        if (r != me && h > seen[r] && (heads[r] & NOTICE_HEAD_LAPPED)) {
            mark_lapped(r); /* its ring no longer holds them */
            seen[r] = h;
            gen++;
        }
        heads[r] = base[r] = h;
    }
    barrier_epoch = seq;
    int rc = invalidate_stale();
    if (rc != MDSM_OK)
        acquired_valid = 0; /* notices left pending: the next acquire reads the heads */
    /* Ranks still behind (an invalidation failed, or this rank had missed
     * notices from before the last barrier) are read from their logs. */
    int crc = catch_up(heads);
    in_barrier = 0;
    return rc != MDSM_OK ? rc : crc;
}

#define VECTOR_DENSE UINT64_MAX /* in place of the barrier count: all n entries follow */

int notice_vector_encode(uint64_t *out)
{
    int k = 0, at = 2;
    for (int r = 0; r < n; r++)
        k += seen[r] != base[r];
    if (2 * k > n) { /* pairs would be longer than the vector */
        out[0] = VECTOR_DENSE;
        out[1] = (uint64_t)n;
        memcpy(out + 2, seen, (size_t)n * sizeof(*seen));
        return 2 + n;
    }
    out[0] = barrier_epoch;
    out[1] = (uint64_t)k;
    for (int r = 0; r < n; r++)
        if (seen[r] != base[r]) {
            out[at++] = (uint64_t)r;
            out[at++] = seen[r];
        }
    return at;
}

int notice_vector_words(const uint64_t *in, int words)
{
    if (words < 2 || in[1] > (uint64_t)n)
        return -1;
    return in[0] == VECTOR_DENSE ? 2 + n : 2 + 2 * (int)in[1];
}

int notice_vector_decode(const uint64_t *in, int words, uint64_t *target, int *used)
{
    int need = notice_vector_words(in, words);
    if (need < 0 || need > words)
        return mdsm_fail_internal(MDSM_ERR_INTERNAL, "notices: a malformed vector (%d words)",
                                  words);
    *used = need;
    if (in[0] == VECTOR_DENSE) {
        memcpy(target, in + 2, (size_t)n * sizeof(*target));
        return MDSM_OK;
    }
    int k = (int)in[1];
    /* Encoded against the base of a barrier this rank has not finished yet
     * (another of its threads is in it): every rank's current head covers
     * it. Against this rank's last barrier's or an earlier one's: this rank's
     * base covers every rank not listed, since bases only grow. */
    if (in[0] > barrier_epoch)
        return read_heads(target);
    memcpy(target, base, (size_t)n * sizeof(*target));
    for (int i = 0; i < k; i++) {
        uint64_t r = in[2 + 2 * i];
        if (r >= (uint64_t)n)
            return mdsm_fail_internal(MDSM_ERR_INTERNAL, "notices: rank %llu in a vector",
                                      (unsigned long long)r);
        if (in[3 + 2 * i] > target[r]) /* below base only after a failed catch-up */
            target[r] = in[3 + 2 * i];
    }
    return MDSM_OK;
}
