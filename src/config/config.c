#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"

extern char **environ;

enum var_kind { KIND_SIZE, KIND_INT, KIND_CHOICE };

struct choice {
    const char *name;
    int value;
};

struct var_desc {
    const char *name;
    const char *default_value; /* NULL: computed at run time (see default_of) */
    const char *form;
    const char *doc;
    enum var_kind kind;
    uint64_t min, max;            /* KIND_SIZE and KIND_INT */
    const struct choice *choices; /* KIND_CHOICE, NULL-terminated */
    size_t offset;                /* into struct mdsm_settings */
    ptrdiff_t api_offset;         /* into mdsm_config_t, or -1 */
    const char *api_field;
    int agree; /* AGREE: every rank must hold the same value (mdsm_init checks) */
};

static const struct choice dist_choices[] = {
    {"block", MDSM_DIST_BLOCK}, {"cyclic", MDSM_DIST_CYCLIC}, {NULL, 0}};
static const struct choice bool_choices[] = {{"0", 0},     {"1", 1},    {"no", 0},
                                             {"yes", 1},   {"off", 0},  {"on", 1},
                                             {"false", 0}, {"true", 1}, {NULL, 0}};
static const struct choice log_choices[] = {{"none", MDSM_LOG_NONE},   {"error", MDSM_LOG_ERROR},
                                            {"warn", MDSM_LOG_WARN},   {"info", MDSM_LOG_INFO},
                                            {"debug", MDSM_LOG_DEBUG}, {NULL, 0}};
static const struct choice progress_choices[] = {{"auto", MDSM_PROGRESS_AUTO},
                                                 {"thread", MDSM_PROGRESS_THREAD},
                                                 {"off", MDSM_PROGRESS_OFF},
                                                 {NULL, 0}};
static const struct choice bind_choices[] = {
    {"auto", MDSM_BIND_AUTO}, {"none", MDSM_BIND_NONE}, {NULL, 0}};

#define KiB    ((uint64_t)1 << 10)
#define MiB    ((uint64_t)1 << 20)
#define GiB    ((uint64_t)1 << 30)
#define TiB    ((uint64_t)1 << 40)
#define SET(f) offsetof(struct mdsm_settings, f)
#define API(f) (ptrdiff_t) offsetof(mdsm_config_t, f), "mdsm_config_t." #f
#define NO_API -1, NULL
/* Ranks that disagree on these would compute different page homes, lock
 * homes or window sizes: init fails instead of corrupting data or hanging. */
#define AGREE    1
#define PER_RANK 0

static const struct var_desc table[] = {
    {"MDSM_SPACE_SIZE", "1G", "size with unit K, M, G or T (e.g. 64M, 2G), 1M..16T",
     "Bytes of global address space reserved on every rank; each rank homes 1/nranks of it",
     KIND_SIZE, MiB, 16 * TiB, NULL, SET(space_size), API(space_size), AGREE},
    {"MDSM_CACHE_SIZE", "256M", "size with unit K, M, G or T (e.g. 64M, 2G), 64K..1T",
     "Bytes of remote pages a rank may cache (at least 4 pages); beyond it pages are evicted",
     KIND_SIZE, 64 * KiB, TiB, NULL, SET(cache_size), API(cache_size), PER_RANK},
    {"MDSM_PAGE_SIZE", NULL, "size, a power of two multiple of the OS page size, up to 1M",
     "Coherence unit: the granularity of faults, fetches and invalidation", KIND_SIZE, 0, MiB, NULL,
     SET(page_size), API(page_size), AGREE},
    {"MDSM_DISTRIBUTION", "block", "one of: block, cyclic",
     "How pages of an allocation are assigned home ranks", KIND_CHOICE, 0, 0, dist_choices,
     SET(distribution), API(distribution), AGREE},
    {"MDSM_NUM_LOCKS", "1024", "integer, 1..1048576", "Number of locks: ids are 0..N-1", KIND_INT,
     1, 1048576, NULL, SET(num_locks), API(num_locks), AGREE},
    {"MDSM_STATS", "0", "boolean: 0, 1, no, yes, off, on, false, true",
     "Print each rank's statistics at mdsm_finalize", KIND_CHOICE, 0, 0, bool_choices, SET(stats),
     NO_API, PER_RANK},
    {"MDSM_LOG_LEVEL", "warn", "one of: none, error, warn, info, debug",
     "Messages printed to stderr; info also reports rejected input", KIND_CHOICE, 0, 0, log_choices,
     SET(log_level), NO_API, PER_RANK},
    {"MDSM_PROGRESS", "auto", "one of: auto, thread, off",
     "Helper thread that drives MPI progress while the application computes: auto starts it "
     "where other ranks reach this rank by MPI calls that wait for it (probed at init) and MPI "
     "provides MPI_THREAD_MULTIPLE; thread requires it",
     KIND_CHOICE, 0, 0, progress_choices, SET(progress), NO_API, PER_RANK},
    {"MDSM_PROGRESS_INTERVAL", "50", "integer microseconds, 1..100000",
     "How often the progress thread polls MPI", KIND_INT, 1, 100000, NULL,
     SET(progress_interval_us), NO_API, PER_RANK},
    {"MDSM_BIND", "auto", "one of: auto, none",
     "CPU binding of ranks: auto binds ranks the launcher left unbound, spread over the node's "
     "cores and NUMA nodes; none leaves binding alone",
     KIND_CHOICE, 0, 0, bind_choices, SET(bind), NO_API, PER_RANK},
    {"MDSM_WATCHDOG", "0", "integer seconds, 0..86400 (0: off)",
     "A rank blocked in one mdsm call (or fault) for longer than this prints once, on stderr, "
     "what it waits for: the lock and its queue, the barrier, or the page and its home rank. "
     "May differ between ranks",
     KIND_INT, 0, 86400, NULL, SET(watchdog_s), NO_API, PER_RANK},
    {"MDSM_NODE_SHARING", "on", "boolean: 0, 1, no, yes, off, on, false, true",
     "Ranks on one node map the node's home pages and use them in place (no fault for reads, "
     "no copy, no diff); off: every rank caches and diffs its neighbours' pages like remote ones",
     KIND_CHOICE, 0, 0, bool_choices, SET(node_sharing), NO_API, AGREE},
    {"MDSM_MAX_MAPPINGS", "0", "integer, 0 or 256..2147483647 (0: auto)",
     "Kernel memory mappings mdsm may use per rank; auto: vm.max_map_count less the process's "
     "own at mdsm_init and a reserve. Cached pages are evicted to stay under it",
     KIND_INT, 0, 2147483647, NULL, SET(max_mappings), NO_API, PER_RANK},
    {"MDSM_PREFETCH_MAX", "32", "integer pages, 1..1024 (1: off)",
     "Most pages one read miss fetches: after four misses in address order at one stride (up "
     "to 64 pages), each fetch takes the next pages at that stride of the same home too, twice "
     "as many as the last, up to this",
     KIND_INT, 1, 1024, NULL, SET(prefetch_max), NO_API, PER_RANK},
};

#define NUM_VARS ((int)(sizeof(table) / sizeof(table[0])))
_Static_assert(sizeof(table) / sizeof(table[0]) <= MDSM_CONFIG_MAX_VARS, "table too large");

static const struct mdsm_config_resolved *active;

static size_t os_page_size(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

static void format_size(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (v >= 1024 && v % 1024 == 0 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%" PRIu64, v);
    else
        snprintf(buf, len, "%" PRIu64 "%c", v, units[u]);
}

static const char *default_of(const struct var_desc *d, char *buf, size_t len)
{
    if (d->default_value)
        return d->default_value;
    format_size(os_page_size(), buf, len); /* MDSM_PAGE_SIZE: the OS page */
    return buf;
}

/* Parses "<digits>[K|M|G|T]" (case-insensitive, binary units). */
static int parse_size(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -1;
    uint64_t mult = 1;
    switch (toupper((unsigned char)*end)) {
    case '\0': break;
    case 'K':
        mult = KiB;
        end++;
        break;
    case 'M':
        mult = MiB;
        end++;
        break;
    case 'G':
        mult = GiB;
        end++;
        break;
    case 'T':
        mult = TiB;
        end++;
        break;
    default: return -1;
    }
    if (*end != '\0' || (v != 0 && mult > UINT64_MAX / v))
        return -1;
    *out = v * mult;
    return 0;
}

static int parse_int(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int in_range(const struct var_desc *d, uint64_t v)
{
    if (v < d->min || v > d->max)
        return 0;
    if (d->offset == SET(page_size)) {
        size_t os = os_page_size();
        return v >= os && v % os == 0 && (v & (v - 1)) == 0;
    }
    if (d->offset == SET(max_mappings))
        return v == 0 || v >= 256; /* fewer could not hold an allocation and its cache */
    return 1;
}

static void store(const struct var_desc *d, struct mdsm_settings *s, uint64_t v)
{
    char *p = (char *)s + d->offset;
    if (d->kind == KIND_SIZE)
        *(size_t *)p = (size_t)v;
    else
        *(int *)p = (int)v;
}

static uint64_t load(const struct var_desc *d, const void *base, size_t offset)
{
    const char *p = (const char *)base + offset;
    if (d->kind == KIND_SIZE)
        return *(const size_t *)p;
    return (uint64_t)(int64_t) * (const int *)p;
}

/* Parses text for entry d into *v. where names the source for the message. */
static int parse_value(const struct var_desc *d, const char *text, const char *where, uint64_t *v)
{
    int bad = 0;
    switch (d->kind) {
    case KIND_SIZE: bad = parse_size(text, v) != 0 || !in_range(d, *v); break;
    case KIND_INT: bad = parse_int(text, v) != 0 || !in_range(d, *v); break;
    case KIND_CHOICE:
        bad = 1;
        for (const struct choice *c = d->choices; c->name; c++) {
            if (strcasecmp(c->name, text) == 0) {
                *v = (uint64_t)c->value;
                bad = 0;
                break;
            }
        }
        break;
    }
    if (bad)
        return mdsm_fail(MDSM_ERR_CONFIG, "%s%s='%s' is invalid: expected %s", where, d->name, text,
                         d->form);
    return MDSM_OK;
}

/* Validates a value set in mdsm_config_t (0 means unset and never gets here). */
static int check_api_value(const struct var_desc *d, uint64_t v)
{
    if (d->kind == KIND_CHOICE) {
        for (const struct choice *c = d->choices; c->name; c++)
            if ((uint64_t)c->value == v)
                return MDSM_OK;
    } else if (in_range(d, v)) {
        return MDSM_OK;
    }
    return mdsm_fail(MDSM_ERR_CONFIG, "%s=%" PRId64 " is invalid: expected %s (as for %s)",
                     d->api_field, (int64_t)v, d->form, d->name);
}

/* Resolves entry d: default, then environment, then cfg (may be NULL). */
static int resolve_one(const struct var_desc *d, const mdsm_config_t *cfg, uint64_t *v,
                       uint8_t *source)
{
    char buf[32];
    if (parse_value(d, default_of(d, buf, sizeof(buf)), "default ", v) != MDSM_OK)
        return mdsm_fail_internal(MDSM_ERR_INTERNAL, "bad default for %s", d->name);
    *source = MDSM_CONFIG_SOURCE_DEFAULT;

    const char *env = getenv(d->name);
    if (env) {
        int rc = parse_value(d, env, "", v);
        if (rc != MDSM_OK)
            return rc;
        *source = MDSM_CONFIG_SOURCE_ENV;
    }
    if (cfg && d->api_offset >= 0) {
        uint64_t a = load(d, cfg, (size_t)d->api_offset);
        if (a != 0) {
            int rc = check_api_value(d, a);
            if (rc != MDSM_OK)
                return rc;
            *v = a;
            *source = MDSM_CONFIG_SOURCE_API;
        }
    }
    return MDSM_OK;
}

int mdsm_config_resolve(const mdsm_config_t *cfg, struct mdsm_config_resolved *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < NUM_VARS; i++) {
        uint64_t v = 0;
        int rc = resolve_one(&table[i], cfg, &v, &out->source[i]);
        if (rc != MDSM_OK)
            return rc;
        store(&table[i], &out->s, v);
    }
    /* An access may span two pages, and a copy between two spans four: with
     * fewer slots the cache could evict what the retried access needs. */
    if (out->s.cache_size < 4 * out->s.page_size)
        return mdsm_fail(MDSM_ERR_CONFIG,
                         "MDSM_CACHE_SIZE=%zu is invalid: expected at least 4 pages of "
                         "MDSM_PAGE_SIZE=%zu",
                         out->s.cache_size, out->s.page_size);
    return MDSM_OK;
}

int mdsm_config_env_log_level(void)
{
    for (int i = 0; i < NUM_VARS; i++) {
        uint64_t v = 0;
        uint8_t source = 0;
        if (table[i].offset == SET(log_level) &&
            resolve_one(&table[i], NULL, &v, &source) == MDSM_OK)
            return (int)v;
    }
    return MDSM_LOG_WARN;
}

/* Levenshtein distance, for "did you mean" on misspelt names. */
static int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    int row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

int mdsm_config_warn_unknown(void)
{
    int unknown = 0;
    for (char **e = environ; e && *e; e++) {
        if (strncmp(*e, "MDSM_", 5) != 0)
            continue;
        char name[128];
        size_t n = strcspn(*e, "=");
        if (n >= sizeof(name))
            n = sizeof(name) - 1;
        memcpy(name, *e, n);
        name[n] = '\0';
        const char *closest = NULL;
        int best = 4;
        for (int i = 0; i < NUM_VARS; i++) {
            int dist = edit_distance(name, table[i].name);
            if (dist < best) {
                best = dist;
                closest = table[i].name;
            }
        }
        if (best == 0)
            continue;
        unknown++;
        if (closest)
            MDSM_WARN("unknown environment variable %s ignored (did you mean %s?)", name, closest);
        else
            MDSM_WARN("unknown environment variable %s ignored (see mdsm-info)", name);
    }
    return unknown;
}

void mdsm_config_set_active(const struct mdsm_config_resolved *r)
{
    active = r;
}

int mdsm_config_init(mdsm_config_t *cfg)
{
    if (!cfg)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_config_init: cfg is NULL");
    memset(cfg, 0, sizeof(*cfg));
    return MDSM_OK;
}

int mdsm_config_num_vars(void)
{
    return NUM_VARS;
}

static void format_value(const struct var_desc *d, uint64_t v, char *buf, size_t len)
{
    if (d->kind == KIND_SIZE) {
        format_size(v, buf, len);
        return;
    }
    if (d->kind == KIND_CHOICE) {
        for (const struct choice *c = d->choices; c->name; c++) {
            if ((uint64_t)c->value == v) {
                snprintf(buf, len, "%s", c->name);
                return;
            }
        }
    }
    snprintf(buf, len, "%" PRIu64, v);
}

int mdsm_config_var(int index, mdsm_config_var_t *out)
{
    if (index < 0 || index >= NUM_VARS)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_config_var: index %d not in [0, %d)", index,
                         NUM_VARS);
    if (!out)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_config_var: out is NULL");
    const struct var_desc *d = &table[index];
    uint64_t v = 0;
    uint8_t source = 0;
    if (active) {
        v = load(d, &active->s, d->offset);
        source = active->source[index];
    } else {
        int rc = resolve_one(d, NULL, &v, &source);
        if (rc != MDSM_OK)
            return rc;
    }
    static char page_default[32]; /* computed once per process; the same every time */
    out->name = d->name;
    out->default_value = default_of(d, page_default, sizeof(page_default));
    out->form = d->form;
    out->doc = d->doc;
    format_value(d, v, out->value, sizeof(out->value));
    out->source = (mdsm_config_source_t)source;
    return MDSM_OK;
}

int mdsm_config_num_agreed(void)
{
    int n = 0;
    for (int i = 0; i < NUM_VARS; i++)
        n += table[i].agree;
    return n;
}

/* Table index of the k-th setting that must agree. */
static int agreed_index(int k)
{
    for (int i = 0; i < NUM_VARS; i++)
        if (table[i].agree && k-- == 0)
            return i;
    return -1;
}

void mdsm_config_agreed(const struct mdsm_config_resolved *r, int k, uint64_t *value, int *source)
{
    int i = agreed_index(k);
    *value = load(&table[i], &r->s, table[i].offset);
    *source = r->source[i];
}

static void describe_holder(const struct var_desc *d, int rank, uint64_t v, int source, char *buf,
                            size_t len)
{
    char value[64];
    format_value(d, v, value, sizeof(value));
    const char *from = source == MDSM_CONFIG_SOURCE_API   ? d->api_field
                       : source == MDSM_CONFIG_SOURCE_ENV ? "environment"
                                                          : "default";
    snprintf(buf, len, "rank %d has %s (%s)", rank, value, from);
}

int mdsm_config_mismatch(int k, int rank_a, uint64_t a, int source_a, int rank_b, uint64_t b,
                         int source_b)
{
    const struct var_desc *d = &table[agreed_index(k)];
    char first[128], second[128];
    if (rank_b < rank_a) {
        describe_holder(d, rank_b, b, source_b, first, sizeof(first));
        describe_holder(d, rank_a, a, source_a, second, sizeof(second));
    } else {
        describe_holder(d, rank_a, a, source_a, first, sizeof(first));
        describe_holder(d, rank_b, b, source_b, second, sizeof(second));
    }
    return mdsm_fail(MDSM_ERR_MISMATCH,
                     "%s differs between ranks: %s, %s; it must be the same on every rank", d->name,
                     first, second);
}
