/* Settings that must agree between ranks: mdsm_init compares them in one
 * collective and fails alike on every rank, naming the variable and two
 * ranks' values; settings that may differ per rank still do. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mt.h"

/* Saves name's value, to be put back by restore_env. */
struct saved_env {
    const char *name;
    char value[256];
    int was_set;
};

static struct saved_env save_env(const char *name)
{
    struct saved_env s = {name, "", 0};
    const char *v = getenv(name);
    if (v) {
        snprintf(s.value, sizeof(s.value), "%s", v);
        s.was_set = 1;
    }
    return s;
}

static void restore_env(const struct saved_env *s)
{
    if (s->was_set)
        setenv(s->name, s->value, 1);
    else
        unsetenv(s->name);
}

static void expect_in_message(const char *what, const char *want, const char *file, int line)
{
    const char *msg = mdsm_last_error_message();
    if (!strstr(msg, want))
        mt_fail(file, line, "%s: message '%s' lacks '%s'", what, msg, want);
}
#define EXPECT_IN_MESSAGE(what, want) expect_in_message((what), (want), __FILE__, __LINE__)

/* Sets name to differ on the ranks in [first_odd, n): those get odd, the rest
 * even. Every rank must fail init with MDSM_ERR_MISMATCH naming rank 0's and
 * rank first_odd's values; then init works again once the values agree. */
static void expect_mismatch(const char *name, const char *even, const char *odd, int first_odd,
                            const char *even_shown, const char *odd_shown, const char *file,
                            int line)
{
    struct saved_env saved = save_env(name);
    setenv(name, mt_rank() >= first_odd ? odd : even, 1);
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    restore_env(&saved);
    if (rc != MDSM_ERR_MISMATCH)
        mt_fail(file, line, "%s=%s/%s: mdsm_init returned %d (%s), expected MDSM_ERR_MISMATCH",
                name, even, odd, rc, mdsm_strerror(rc));
    if (mdsm_last_error() != MDSM_ERR_MISMATCH)
        mt_fail(file, line, "%s: mdsm_last_error() is %d", name, mdsm_last_error());
    if (mdsm_initialized())
        mt_fail(file, line, "%s: mdsm is initialised after a mismatch", name);
    char want[128];
    const char *msg = mdsm_last_error_message();
    snprintf(want, sizeof(want), "%s differs between ranks", name);
    if (!strstr(msg, want))
        mt_fail(file, line, "%s: message '%s' lacks '%s'", name, msg, want);
    snprintf(want, sizeof(want), "rank 0 has %s (environment)", even_shown);
    if (!strstr(msg, want))
        mt_fail(file, line, "%s: message '%s' lacks '%s'", name, msg, want);
    snprintf(want, sizeof(want), "rank %d has %s (environment)", first_odd, odd_shown);
    if (!strstr(msg, want))
        mt_fail(file, line, "%s: message '%s' lacks '%s'", name, msg, want);
    /* Nothing was left half set up: the next init works. */
    rc = mdsm_init(MPI_COMM_WORLD, NULL);
    if (rc != MDSM_OK)
        mt_fail(file, line, "%s: mdsm_init after the mismatch returned %d (%s)", name, rc,
                mdsm_strerror(rc));
    if (rc == MDSM_OK)
        MT_EXPECT_OK(mdsm_finalize());
}
#define EXPECT_MISMATCH(name, even, odd, first, even_shown, odd_shown)                             \
    expect_mismatch((name), (even), (odd), (first), (even_shown), (odd_shown), __FILE__, __LINE__)

static long sysconf_page(void)
{
    return sysconf(_SC_PAGESIZE);
}

#define NEED_TWO_RANKS()                                                                           \
    do {                                                                                           \
        if (mt_nranks() < 2)                                                                       \
            MT_SKIP("a mismatch needs at least 2 ranks");                                          \
    } while (0)

MT_TEST(agree, page_size_must_agree)
{
    NEED_TWO_RANKS();
    EXPECT_MISMATCH("MDSM_PAGE_SIZE", "4K", "8K", 1, "4K", "8K");
}

MT_TEST(agree, num_locks_must_agree)
{
    NEED_TWO_RANKS();
    EXPECT_MISMATCH("MDSM_NUM_LOCKS", "16", "32", 1, "16", "32");
}

MT_TEST(agree, distribution_must_agree)
{
    NEED_TWO_RANKS();
    EXPECT_MISMATCH("MDSM_DISTRIBUTION", "block", "CYCLIC", 1, "block", "cyclic");
}

MT_TEST(agree, space_size_must_agree)
{
    NEED_TWO_RANKS();
    EXPECT_MISMATCH("MDSM_SPACE_SIZE", "64M", "131072k", 1, "64M", "128M");
}

/* The ranks named are the lowest holding each value, whichever rank differs. */
MT_TEST(agree, only_the_last_rank_differs)
{
    NEED_TWO_RANKS();
    int last = mt_nranks() - 1;
    EXPECT_MISMATCH("MDSM_NUM_LOCKS", "1024", "1023", last, "1024", "1023");
}

/* The same value spelt differently agrees. */
MT_TEST(agree, equal_values_in_other_units_agree)
{
    struct saved_env saved = save_env("MDSM_SPACE_SIZE");
    setenv("MDSM_SPACE_SIZE", mt_rank() % 2 ? "1024m" : "1G", 1);
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    restore_env(&saved);
    MT_ASSERT_OK(rc);
    MT_EXPECT_OK(mdsm_finalize());
}

/* A field of mdsm_config_t is compared like the environment, and named. */
MT_TEST(agree, config_fields_must_agree)
{
    NEED_TWO_RANKS();
    struct saved_env saved = save_env("MDSM_PAGE_SIZE");
    unsetenv("MDSM_PAGE_SIZE");
    long os_page = sysconf_page();
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    if (mt_rank() == 1)
        cfg.page_size = 2 * (size_t)os_page;
    int rc = mdsm_init(MPI_COMM_WORLD, &cfg);
    restore_env(&saved);
    MT_EXPECT_RC(rc, MDSM_ERR_MISMATCH);
    MT_EXPECT_EQ(mdsm_initialized(), 0);
    char want[96];
    snprintf(want, sizeof(want), "rank 0 has %ldK (default)", os_page / 1024);
    EXPECT_IN_MESSAGE("page_size from mdsm_config_t", want);
    snprintf(want, sizeof(want), "rank 1 has %ldK (mdsm_config_t.page_size)", 2 * os_page / 1024);
    EXPECT_IN_MESSAGE("page_size from mdsm_config_t", want);

    /* A field on one rank and the same value from the environment on the others agree. */
    cfg.num_locks = mt_rank() == 0 ? 77 : 0;
    cfg.page_size = 0;
    struct saved_env locks = save_env("MDSM_NUM_LOCKS");
    setenv("MDSM_NUM_LOCKS", mt_rank() == 0 ? "5" : "77", 1);
    rc = mdsm_init(MPI_COMM_WORLD, &cfg);
    restore_env(&locks);
    MT_ASSERT_OK(rc);
    MT_EXPECT_EQ(mdsm_num_locks(), 77);
    MT_EXPECT_OK(mdsm_finalize());
}

/* A malformed value is reported as such, not as a mismatch. */
MT_TEST(agree, a_bad_value_beats_a_mismatch)
{
    NEED_TWO_RANKS();
    struct saved_env saved = save_env("MDSM_NUM_LOCKS");
    setenv("MDSM_NUM_LOCKS", mt_rank() == 0 ? "lots" : "32", 1);
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    restore_env(&saved);
    MT_EXPECT_RC(rc, mt_rank() == 0 ? MDSM_ERR_CONFIG : MDSM_ERR_REMOTE);
    MT_EXPECT_EQ(mdsm_initialized(), 0);
}

/* Log level, statistics, binding, cache size and progress may differ per
 * rank: init succeeds, each rank keeps its own value, and memory works. */
MT_TEST(agree, per_rank_settings_may_differ)
{
    static const struct {
        const char *name, *even, *odd;
    } free_vars[] = {
        {"MDSM_LOG_LEVEL", "warn", "error"},     {"MDSM_STATS", "0", "1"},
        {"MDSM_BIND", "auto", "none"},           {"MDSM_CACHE_SIZE", "64M", "128M"},
        {"MDSM_PROGRESS_INTERVAL", "50", "100"}, {"MDSM_PROGRESS", "thread", "off"},
    };
    enum { N = sizeof(free_vars) / sizeof(free_vars[0]) };
    struct saved_env saved[N];
    int odd = mt_rank() % 2;
    for (int i = 0; i < N; i++) {
        saved[i] = save_env(free_vars[i].name);
        setenv(free_vars[i].name, odd ? free_vars[i].odd : free_vars[i].even, 1);
    }
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    for (int i = 0; i < N; i++)
        restore_env(&saved[i]);
    MT_ASSERT_OK(rc);
    mdsm_config_var_t v;
    for (int i = 0; i < mdsm_config_num_vars(); i++) {
        MT_ASSERT_OK(mdsm_config_var(i, &v));
        if (strcmp(v.name, "MDSM_CACHE_SIZE") == 0)
            MT_EXPECT(strcmp(v.value, odd ? "128M" : "64M") == 0);
        if (strcmp(v.name, "MDSM_BIND") == 0)
            MT_EXPECT(strcmp(v.value, odd ? "none" : "auto") == 0);
    }
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    volatile int *x = mdsm_alloc((size_t)n * (size_t)ps);
    MT_ASSERT(x != NULL);
    size_t stride = (size_t)ps / sizeof(int);
    x[(size_t)me * stride] = 1000 + me;
    MT_EXPECT_OK(mdsm_barrier());
    for (int q = 0; q < n; q++)
        MT_EXPECT_EQ(x[(size_t)q * stride], 1000 + q);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)x));
    MT_EXPECT_OK(mdsm_finalize());
}
