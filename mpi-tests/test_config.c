/* The configuration table: strict parsing, units, precedence, unknown names. */
#include <stdlib.h>
#include <string.h>

#include "mt.h"

static int find_var(const char *name, mdsm_config_var_t *out)
{
    for (int i = 0; i < mdsm_config_num_vars(); i++)
        if (mdsm_config_var(i, out) == MDSM_OK && strcmp(out->name, name) == 0)
            return i;
    return -1;
}

MT_TEST(config, defaults_apply_without_environment)
{
    mdsm_config_var_t v;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    MT_ASSERT(find_var("MDSM_NUM_LOCKS", &v) >= 0);
    MT_EXPECT(strcmp(v.value, "1024") == 0);
    MT_EXPECT_EQ(v.source, MDSM_CONFIG_SOURCE_DEFAULT);
    MT_ASSERT(find_var("MDSM_DISTRIBUTION", &v) >= 0);
    MT_EXPECT(strcmp(v.value, "block") == 0);
    MT_EXPECT_OK(mdsm_finalize());
}

MT_TEST(config, sizes_take_units)
{
    static const struct {
        const char *text, *shown;
    } cases[] = {{"64M", "64M"}, {"2G", "2G"}, {"1024k", "1M"}, {"65536", "64K"}, {"1t", "1T"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv("MDSM_CACHE_SIZE", cases[i].text, 1);
        MT_EXPECT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
        mdsm_config_var_t v;
        MT_EXPECT(find_var("MDSM_CACHE_SIZE", &v) >= 0);
        MT_EXPECT(strcmp(v.value, cases[i].shown) == 0);
        MT_EXPECT_EQ(v.source, MDSM_CONFIG_SOURCE_ENV);
        MT_EXPECT_OK(mdsm_finalize());
    }
    unsetenv("MDSM_CACHE_SIZE");
}

MT_TEST(config, garbage_and_out_of_range_values_fail_init)
{
    static const struct {
        const char *name, *value, *form_word;
    } cases[] = {
        {"MDSM_CACHE_SIZE", "abc", "unit"},
        {"MDSM_CACHE_SIZE", "12Q", "unit"},
        {"MDSM_CACHE_SIZE", "", "unit"},
        {"MDSM_CACHE_SIZE", "-1", "unit"},
        {"MDSM_CACHE_SIZE", "64MB", "unit"},
        {"MDSM_CACHE_SIZE", "1K", "64K..1T"},
        {"MDSM_CACHE_SIZE", "99999999999999999999", "unit"},
        {"MDSM_SPACE_SIZE", "17179869184T", "unit"},
        {"MDSM_PAGE_SIZE", "3K", "power of two"},
        {"MDSM_PAGE_SIZE", "2048", "power of two"},
        {"MDSM_NUM_LOCKS", "0", "1..1048576"},
        {"MDSM_NUM_LOCKS", "10x", "integer"},
        {"MDSM_NUM_LOCKS", "2000000", "1..1048576"},
        {"MDSM_NUM_LOCKS", " 5", "integer"},
        {"MDSM_DISTRIBUTION", "blocky", "block, cyclic"},
        {"MDSM_STATS", "maybe", "boolean"},
        {"MDSM_LOG_LEVEL", "loud", "none, error"},
        {"MDSM_PROGRESS", "async", "thread, off"},
        {"MDSM_PROGRESS_INTERVAL", "0", "microseconds"},
        {"MDSM_BIND", "core", "auto, none"},
        {"MDSM_WATCHDOG", "soon", "seconds"},
        {"MDSM_WATCHDOG", "86401", "0..86400"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setenv(cases[i].name, cases[i].value, 1);
        mt_stderr_begin();
        int rc = mdsm_init(MPI_COMM_WORLD, NULL);
        char *printed = mt_stderr_end();
        unsetenv(cases[i].name);
        MT_EXPECT_RC(rc, MDSM_ERR_CONFIG);
        MT_EXPECT_EQ(mdsm_initialized(), 0);
        const char *msg = mdsm_last_error_message();
        if (!strstr(msg, cases[i].name) || !strstr(msg, cases[i].form_word))
            mt_fail(__FILE__, __LINE__, "%s='%s': message '%s' lacks the name or the form '%s'",
                    cases[i].name, cases[i].value, msg, cases[i].form_word);
        if (printed[0] != '\0') /* bad input prints nothing unless logging is on */
            mt_fail(__FILE__, __LINE__, "%s='%s' printed '%s'", cases[i].name, cases[i].value,
                    printed);
        free(printed);
    }
}

MT_TEST(config, rejected_input_is_logged_at_info_level)
{
    setenv("MDSM_LOG_LEVEL", "info", 1);
    setenv("MDSM_NUM_LOCKS", "none", 1);
    mt_stderr_begin();
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    char *printed = mt_stderr_end();
    unsetenv("MDSM_NUM_LOCKS");
    unsetenv("MDSM_LOG_LEVEL");
    MT_EXPECT_RC(rc, MDSM_ERR_CONFIG);
    MT_EXPECT(strstr(printed, "MDSM_NUM_LOCKS='none' is invalid") != NULL);
    free(printed);
}

MT_TEST(config, api_fields_win_over_environment)
{
    setenv("MDSM_NUM_LOCKS", "10", 1);
    setenv("MDSM_CACHE_SIZE", "64M", 1);
    setenv("MDSM_DISTRIBUTION", "block", 1);
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.num_locks = 20;
    cfg.distribution = MDSM_DIST_CYCLIC;
    int rc = mdsm_init(MPI_COMM_WORLD, &cfg);
    unsetenv("MDSM_NUM_LOCKS");
    unsetenv("MDSM_CACHE_SIZE");
    unsetenv("MDSM_DISTRIBUTION");
    MT_ASSERT_OK(rc);
    mdsm_config_var_t v;
    MT_EXPECT(find_var("MDSM_NUM_LOCKS", &v) >= 0);
    MT_EXPECT(strcmp(v.value, "20") == 0);
    MT_EXPECT_EQ(v.source, MDSM_CONFIG_SOURCE_API);
    MT_EXPECT(find_var("MDSM_DISTRIBUTION", &v) >= 0);
    MT_EXPECT(strcmp(v.value, "cyclic") == 0);
    MT_EXPECT(find_var("MDSM_CACHE_SIZE", &v) >= 0);
    MT_EXPECT(strcmp(v.value, "64M") == 0);
    MT_EXPECT_EQ(v.source, MDSM_CONFIG_SOURCE_ENV);
    MT_EXPECT_OK(mdsm_finalize());
}

MT_TEST(config, bad_api_field_names_the_field)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.page_size = 5000;
    MT_EXPECT_RC(mdsm_init(MPI_COMM_WORLD, &cfg), MDSM_ERR_CONFIG);
    MT_EXPECT(strstr(mdsm_last_error_message(), "mdsm_config_t.page_size=5000") != NULL);
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.distribution = (mdsm_distribution_t)7;
    MT_EXPECT_RC(mdsm_init(MPI_COMM_WORLD, &cfg), MDSM_ERR_CONFIG);
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.num_locks = -3;
    MT_EXPECT_RC(mdsm_init(MPI_COMM_WORLD, &cfg), MDSM_ERR_CONFIG);
    MT_EXPECT_EQ(mdsm_initialized(), 0);
}

MT_TEST(config, unknown_names_are_warned_about)
{
    setenv("MDSM_CACHE_SIZ", "64M", 1);
    setenv("MDSM_ZZZZZZZZZZZZZZZZ", "1", 1);
    mt_stderr_begin();
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    char *printed = mt_stderr_end();
    unsetenv("MDSM_CACHE_SIZ");
    unsetenv("MDSM_ZZZZZZZZZZZZZZZZ");
    MT_EXPECT_OK(rc);
    MT_EXPECT(strstr(printed, "unknown environment variable MDSM_CACHE_SIZ ignored (did you mean "
                              "MDSM_CACHE_SIZE?)") != NULL);
    MT_EXPECT(strstr(printed, "MDSM_ZZZZZZZZZZZZZZZZ ignored") != NULL);
    free(printed);
    if (rc == MDSM_OK)
        MT_EXPECT_OK(mdsm_finalize());
}

MT_TEST(config, table_queries_validate_arguments)
{
    mdsm_config_var_t v;
    int n = mdsm_config_num_vars();
    MT_EXPECT_GE(n, 9);
    MT_EXPECT_RC(mdsm_config_var(-1, &v), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_config_var(n, &v), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_config_var(0, NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_config_init(NULL), MDSM_ERR_INVALID_ARG);
    for (int i = 0; i < n; i++) { /* every entry is fully described */
        MT_ASSERT_OK(mdsm_config_var(i, &v));
        MT_EXPECT(strncmp(v.name, "MDSM_", 5) == 0);
        MT_EXPECT(v.default_value[0] && v.form[0] && v.doc[0] && v.value[0]);
    }
}

/* Fewer than 4 cache slots could evict the page a retried access needs. */
MT_TEST(config, cache_must_hold_four_pages)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.page_size = 64 * 1024;
    cfg.cache_size = 128 * 1024;
    MT_EXPECT_RC(mdsm_init(MPI_COMM_WORLD, &cfg), MDSM_ERR_CONFIG);
    MT_EXPECT(strstr(mdsm_last_error_message(), "at least 4 pages") != NULL);
    cfg.cache_size = 256 * 1024;
    MT_EXPECT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    MT_EXPECT_OK(mdsm_finalize());
}
