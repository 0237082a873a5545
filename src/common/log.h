/* Logging to stderr, filtered by MDSM_LOG_LEVEL. Keeps errno intact. */
#ifndef MDSM_COMMON_LOG_H
#define MDSM_COMMON_LOG_H

enum mdsm_log_level {
    MDSM_LOG_NONE = 0,
    MDSM_LOG_ERROR = 1, /* failures of the library, MPI or the system */
    MDSM_LOG_WARN = 2,  /* suspicious settings (unknown MDSM_* names); the default */
    MDSM_LOG_INFO = 3,  /* rejected user input, setup decisions */
    MDSM_LOG_DEBUG = 4
};

void mdsm_log_set_level(int level);
void mdsm_log_set_rank(int rank); /* -1: not known yet */
int mdsm_log_enabled(int level);
void mdsm_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define MDSM_WARN(...)  mdsm_log(MDSM_LOG_WARN, __VA_ARGS__)
#define MDSM_INFO(...)  mdsm_log(MDSM_LOG_INFO, __VA_ARGS__)
#define MDSM_DEBUG(...) mdsm_log(MDSM_LOG_DEBUG, __VA_ARGS__)

#endif
