/*
 * Randomized stress against a model. A seed fixes a program for every rank:
 * phases separated by barriers, each phase a random mix, different on each
 * rank, of
 *   - lock operations: under lock k, check region k against its header and
 *     rewrite a few of its chunks (two locks at once, in id order, sometimes);
 *   - writes of a random range of the barrier area, touching only the bytes
 *     this rank owns in the phase;
 *   - reads of a random range of the barrier area, checking the bytes no
 *     other rank may write in the phase.
 * Everything a rank checks is fixed by the contract: a lock region's header
 * (an operation count and, per 64-byte chunk, the version that last wrote it)
 * travels with the region under its lock, and chunk contents are a function
 * of (seed, region, version, offset); bytes of the barrier area are owned by
 * a function of (seed, phase, byte), and every rank can replay every rank's
 * program, so after each barrier all ranks know every byte. Regions of
 * different locks interleave chunk by chunk and phase owners interleave byte
 * by byte, so pages always have several writers.
 *
 * Seeds: 4 fixed ones per run; MT_SEED=<n> runs that one seed instead, and
 * MT_SEEDS=<count> runs the fixed four and then 5, 6, ... up to count seeds
 * (at most STRESS_MAX_SEEDS); MT_STRESS_PHASES=<n> runs n phases per seed
 * (long sessions: write notice rings lap, as in long applications). Every
 * failure message names the seed.
 */
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"

enum { K = 8, CHUNK = 64, MAX_PICK = 3, RANGE_MAX = 512 };

struct params {
    int a_pages, b_pages, phases, ops;
};

enum op_type { OP_LOCK1, OP_LOCK2, OP_WRITE, OP_READ };

struct op {
    enum op_type type;
    int k[2];
    int npick;
    int pick[2][MAX_PICK]; /* chunk indices within the region */
    size_t start, len;
};

struct world {
    uint64_t seed;
    int n, me, phase;
    long ps;
    size_t a_bytes, b_bytes, nch, hdr_stride;
    volatile uint8_t *a, *b, *h;
    uint8_t *model;          /* the barrier area as every rank must see it after the barrier */
    uint16_t *owner;         /* owner of each byte of the barrier area in this phase (n: none) */
    uint8_t *written;        /* bytes this rank wrote in this phase */
    uint64_t expect_ops[K];  /* lock operations on each region so far, all ranks */
    uint64_t my_last_ops[K]; /* the header count this rank left in each region */
    struct dc_tally tally;
};

static int region_lock(int k)
{
    return 2 + 7 * k; /* homes spread over the ranks */
}

static size_t chunk_offset(int k, size_t c)
{
    return (c * K + (size_t)k) * CHUNK;
}

static uint8_t a_byte(uint64_t seed, int k, uint64_t version, size_t off)
{
    return version == 0 ? 0
                        : (uint8_t)dc_hash3(seed ^ 0xa11ceULL, ((uint64_t)k << 40) | version, off);
}

static uint8_t b_val(uint64_t seed, int phase, size_t j)
{
    return (uint8_t)dc_hash3(seed ^ 0xb0bULL, (uint64_t)phase, j);
}

static volatile uint64_t *hdr_ops(struct world *w, int k)
{
    return (volatile uint64_t *)(w->h + (size_t)k * w->hdr_stride);
}

static volatile uint32_t *hdr_stamps(struct world *w, int k)
{
    return (volatile uint32_t *)(w->h + (size_t)k * w->hdr_stride + sizeof(uint64_t));
}

/* The op sequence of rank q in the current phase: the same on every rank. */
static void plan(const struct world *w, int q, const struct params *p, struct op *ops)
{
    uint64_t s = dc_hash3(w->seed, (uint64_t)w->phase, (uint64_t)q);
    for (int i = 0; i < p->ops; i++) {
        struct op *o = &ops[i];
        uint64_t t = dc_below(&s, 10);
        o->type = t < 3 ? OP_LOCK1 : t < 4 ? OP_LOCK2 : t < 7 ? OP_WRITE : OP_READ;
        o->k[0] = (int)dc_below(&s, K);
        o->k[1] = (int)dc_below(&s, K);
        o->npick = 1 + (int)dc_below(&s, MAX_PICK);
        for (int r = 0; r < 2; r++)
            for (int c = 0; c < MAX_PICK; c++)
                o->pick[r][c] = (int)dc_below(&s, w->nch);
        o->start = (size_t)dc_below(&s, w->b_bytes);
        o->len = 1 + (size_t)dc_below(&s, RANGE_MAX);
        if (o->start + o->len > w->b_bytes)
            o->len = w->b_bytes - o->start;
        if (o->type == OP_LOCK2 && o->k[0] == o->k[1])
            o->type = OP_LOCK1;
    }
}

/* Checks region k's chunks against the stamps in its header. */
static void check_region(struct world *w, int k, const char *when, int opi)
{
    uint64_t ops = *hdr_ops(w, k);
    volatile uint32_t *stamp = hdr_stamps(w, k);
    for (size_t c = 0; c < w->nch; c++) {
        uint32_t v = stamp[c];
        if (v > ops) {
            DC_MISMATCH(&w->tally,
                        "seed %llu phase %d op %d, %s: region %d chunk %zu has version %u, beyond "
                        "the header's count %llu",
                        (unsigned long long)w->seed, w->phase, opi, when, k, c, v,
                        (unsigned long long)ops);
            continue;
        }
        size_t off = chunk_offset(k, c);
        for (size_t j = off; j < off + CHUNK; j++) {
            uint8_t want = a_byte(w->seed, k, v, j), seen = w->a[j];
            if (seen != want) {
                DC_MISMATCH(&w->tally,
                            "seed %llu phase %d op %d, %s: region %d (lock %d) chunk %zu byte %zu "
                            "(page %zu, home rank %d) is %#x, expected %#x of version %u",
                            (unsigned long long)w->seed, w->phase, opi, when, k, region_lock(k), c,
                            j, j / (size_t)w->ps, dc_home(&w->a[j]), seen, want, v);
                break; /* one report per chunk */
            }
        }
    }
}

/* Under region k's lock: check it, then write the picked chunks as a new version. */
static void region_update(struct world *w, int k, const int *pick, int npick, int opi)
{
    check_region(w, k, "under its lock", opi);
    volatile uint64_t *ops = hdr_ops(w, k);
    uint64_t cur = *ops;
    if (cur < w->my_last_ops[k])
        DC_MISMATCH(&w->tally,
                    "seed %llu phase %d op %d: region %d's count reads %llu under its lock, below "
                    "the %llu this rank left there",
                    (unsigned long long)w->seed, w->phase, opi, k, (unsigned long long)cur,
                    (unsigned long long)w->my_last_ops[k]);
    uint64_t v = cur + 1;
    for (int i = 0; i < npick; i++) {
        size_t off = chunk_offset(k, (size_t)pick[i]);
        for (size_t j = off; j < off + CHUNK; j++)
            w->a[j] = a_byte(w->seed, k, v, j);
        hdr_stamps(w, k)[pick[i]] = (uint32_t)v;
    }
    *ops = v;
    w->my_last_ops[k] = v;
}

static int lock_or_fail(struct world *w, int id, int opi)
{
    int rc = mdsm_lock(id);
    if (rc != MDSM_OK)
        mt_fail(__FILE__, __LINE__, "seed %llu phase %d op %d: mdsm_lock(%d) returned %d (%s)",
                (unsigned long long)w->seed, w->phase, opi, id, rc, mdsm_strerror(rc));
    return rc;
}

static void unlock_or_fail(struct world *w, int id, int opi)
{
    int rc = mdsm_unlock(id);
    if (rc != MDSM_OK)
        mt_fail(__FILE__, __LINE__, "seed %llu phase %d op %d: mdsm_unlock(%d) returned %d (%s)",
                (unsigned long long)w->seed, w->phase, opi, id, rc, mdsm_strerror(rc));
}

static void run_op(struct world *w, const struct op *o, int opi)
{
    switch (o->type) {
    case OP_LOCK1:
        if (lock_or_fail(w, region_lock(o->k[0]), opi) == MDSM_OK) {
            region_update(w, o->k[0], o->pick[0], o->npick, opi);
            unlock_or_fail(w, region_lock(o->k[0]), opi);
        }
        break;
    case OP_LOCK2: {
        int lo = o->k[0] < o->k[1] ? 0 : 1, hi = 1 - lo;
        if (lock_or_fail(w, region_lock(o->k[lo]), opi) != MDSM_OK)
            break;
        if (lock_or_fail(w, region_lock(o->k[hi]), opi) == MDSM_OK) {
            region_update(w, o->k[0], o->pick[0], o->npick, opi);
            region_update(w, o->k[1], o->pick[1], o->npick, opi);
            unlock_or_fail(w, region_lock(o->k[hi]), opi);
        }
        unlock_or_fail(w, region_lock(o->k[lo]), opi);
        break;
    }
    case OP_WRITE:
        for (size_t j = o->start; j < o->start + o->len; j++)
            if (w->owner[j] == w->me) {
                w->b[j] = b_val(w->seed, w->phase, j);
                w->written[j] = 1;
            }
        break;
    case OP_READ:
        /* Race-free reads only: bytes nobody writes in this phase, and my own. */
        for (size_t j = o->start; j < o->start + o->len; j++) {
            if (w->owner[j] != w->n && w->owner[j] != w->me)
                continue;
            uint8_t want = w->written[j] ? b_val(w->seed, w->phase, j) : w->model[j];
            uint8_t seen = w->b[j];
            if (seen != want)
                DC_MISMATCH(&w->tally,
                            "seed %llu phase %d op %d: in the phase, byte %zu of the barrier area "
                            "(page %zu, home rank %d, %s) is %#x, expected %#x",
                            (unsigned long long)w->seed, w->phase, opi, j, j / (size_t)w->ps,
                            dc_home(&w->b[j]),
                            w->owner[j] == w->me ? (w->written[j] ? "written by this rank"
                                                                  : "this rank's, not yet written")
                                                 : "written by nobody in this phase",
                            seen, want);
        }
        break;
    }
}

static void run_seed(uint64_t seed, const struct params *p)
{
    struct world w = {.seed = seed, .n = mdsm_nranks(), .me = mdsm_rank()};
    w.ps = mdsm_page_size();
    w.a_bytes = (size_t)p->a_pages * (size_t)w.ps;
    w.b_bytes = (size_t)p->b_pages * (size_t)w.ps;
    w.nch = w.a_bytes / CHUNK / K;
    w.hdr_stride = (sizeof(uint64_t) + w.nch * sizeof(uint32_t) + 7) / 8 * 8;
    size_t h_bytes = K * w.hdr_stride;
    volatile uint8_t *base = mdsm_alloc(w.a_bytes + w.b_bytes + h_bytes);
    w.model = calloc(w.b_bytes, 1);
    w.owner = calloc(w.b_bytes, sizeof(uint16_t));
    w.written = calloc(w.b_bytes, 1);
    struct op *ops = calloc((size_t)p->ops, sizeof(struct op));
    if (!dc_all(base && w.model && w.owner && w.written && ops)) {
        mt_fail(__FILE__, __LINE__,
                "seed %llu: setup failed here or on another rank (mdsm_alloc: %s)",
                (unsigned long long)seed, base ? "ok" : mdsm_strerror(mdsm_last_error()));
        if (base)
            MT_EXPECT_OK(mdsm_free((void *)base));
        goto out;
    }
    w.a = base;
    w.b = base + w.a_bytes;
    w.h = base + w.a_bytes + w.b_bytes;

    for (w.phase = 0; w.phase < p->phases; w.phase++) {
        for (size_t j = 0; j < w.b_bytes; j++)
            w.owner[j] =
                (uint16_t)(dc_hash3(seed ^ 0x0a0eULL, (uint64_t)w.phase, j) % (uint64_t)(w.n + 1));
        memset(w.written, 0, w.b_bytes);

        plan(&w, w.me, p, ops);
        for (int i = 0; i < p->ops; i++) {
            run_op(&w, &ops[i], i);
            if (i % 8 == 7)
                sched_yield(); /* let the other ranks' operations interleave with ours */
        }

        /* Replay every rank's program to know what the barrier publishes. */
        for (int q = 0; q < w.n; q++) {
            plan(&w, q, p, ops);
            for (int i = 0; i < p->ops; i++) {
                const struct op *o = &ops[i];
                if (o->type == OP_LOCK1)
                    w.expect_ops[o->k[0]]++;
                if (o->type == OP_LOCK2) {
                    w.expect_ops[o->k[0]]++;
                    w.expect_ops[o->k[1]]++;
                }
                if (o->type == OP_WRITE)
                    for (size_t j = o->start; j < o->start + o->len; j++)
                        if (w.owner[j] == q)
                            w.model[j] = b_val(seed, w.phase, j);
            }
        }

        MT_EXPECT_OK(mdsm_barrier());
        for (size_t j = 0; j < w.b_bytes; j++) {
            uint8_t seen = w.b[j];
            if (seen != w.model[j])
                DC_MISMATCH(&w.tally,
                            "seed %llu phase %d: after the barrier byte %zu of the barrier area "
                            "(page %zu, home rank %d, owner in this phase: %s %d) is %#x, expected "
                            "%#x",
                            (unsigned long long)seed, w.phase, j, j / (size_t)w.ps,
                            dc_home(&w.b[j]), w.owner[j] == w.n ? "none, was" : "rank",
                            w.owner[j] == w.n ? -1 : w.owner[j], seen, w.model[j]);
        }
        for (int k = 0; k < K; k++) {
            uint64_t ops_seen = *hdr_ops(&w, k);
            if (ops_seen != w.expect_ops[k])
                DC_MISMATCH(&w.tally,
                            "seed %llu phase %d: after the barrier region %d (lock %d, header "
                            "home rank %d) counts %llu lock operations, expected %llu",
                            (unsigned long long)seed, w.phase, k, region_lock(k),
                            dc_home(hdr_ops(&w, k)), (unsigned long long)ops_seen,
                            (unsigned long long)w.expect_ops[k]);
            check_region(&w, k, "after the barrier", -1);
        }
        MT_EXPECT_OK(mdsm_barrier()); /* the checks end before the next phase writes */
    }
    if (w.tally.bad > DC_REPORT_FIRST)
        mt_fail(__FILE__, __LINE__, "seed %llu: %ld mismatches in all (first %d shown)",
                (unsigned long long)seed, w.tally.bad, DC_REPORT_FIRST);
    MT_EXPECT_OK(mdsm_free((void *)base));
out:
    free(w.model);
    free(w.owner);
    free(w.written);
    free(ops);
}

enum { STRESS_MAX_SEEDS = 64 };

/* The seeds of this run: MT_SEED if set, else the fixed four, extended to
 * MT_SEEDS seeds if that is set. */
static int seeds(uint64_t *out)
{
    const char *env = getenv("MT_SEED");
    if (env && *env) {
        char *end;
        out[0] = strtoull(env, &end, 0);
        if (*end == '\0')
            return 1;
        mt_fail(__FILE__, __LINE__, "MT_SEED='%s' is not a number; using the default seeds", env);
    }
    static const uint64_t fixed[] = {1, 0x5eed2ULL, 0xdeadbeefULL, 20240607ULL};
    memcpy(out, fixed, sizeof(fixed));
    int count = 4;
    env = getenv("MT_SEEDS");
    if (env && *env) {
        char *end;
        unsigned long want = strtoul(env, &end, 10);
        if (*end != '\0' || want < 1 || want > STRESS_MAX_SEEDS)
            mt_fail(__FILE__, __LINE__, "MT_SEEDS='%s' is not a count in 1..%d", env,
                    STRESS_MAX_SEEDS);
        else
            count = (int)want;
        for (int i = 4; i < count; i++)
            out[i] = (uint64_t)i + 1;
    }
    return count;
}

/* MT_STRESS_PHASES if set, else the suite's own count. */
static int phases(int dflt)
{
    const char *env = getenv("MT_STRESS_PHASES");
    if (!env || !*env)
        return dflt;
    char *end;
    long v = strtol(env, &end, 10);
    if (*end == '\0' && v > 0 && v <= 1000000)
        return (int)v;
    mt_fail(__FILE__, __LINE__, "MT_STRESS_PHASES='%s' is not in 1..1000000; using %d", env, dflt);
    return dflt;
}

MT_MDSM_TEST(stress, random_programs)
{
    struct params p = {.a_pages = 3, .b_pages = 4, .phases = phases(20), .ops = 40};
    uint64_t list[STRESS_MAX_SEEDS];
    int count = seeds(list);
    for (int i = 0; i < count; i++)
        run_seed(list[i], &p);
}

/* Smallest cache, cyclic homes, two-OS-page coherence unit: the barrier area
 * alone is twice the cache, so checks after the barrier evict. */
MT_TEST(stress, random_programs_small_cache_cyclic)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.cache_size = 64 * 1024;
    cfg.page_size = 2 * (size_t)sysconf(_SC_PAGESIZE);
    cfg.distribution = MDSM_DIST_CYCLIC;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    struct params p = {.a_pages = 3,
                       .b_pages = (int)(128 * 1024 / cfg.page_size),
                       .phases = phases(12),
                       .ops = 40};
    uint64_t list[STRESS_MAX_SEEDS];
    int count = seeds(list);
    for (int i = 0; i < count; i++)
        run_seed(list[i], &p);
    MT_EXPECT_OK(mdsm_finalize());
}
