#include "common/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

static int log_level = MDSM_LOG_WARN;
static int log_rank = -1;

static const char *const level_names[] = {"", "error", "warning", "info", "debug"};

void mdsm_log_set_level(int level)
{
    log_level = level;
}

void mdsm_log_set_rank(int rank)
{
    log_rank = rank;
}

int mdsm_log_enabled(int level)
{
    return level <= log_level;
}

void mdsm_log(int level, const char *fmt, ...)
{
    if (!mdsm_log_enabled(level))
        return;
    int saved_errno = errno;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (log_rank >= 0)
        fprintf(stderr, "[mdsm rank %d] %s: %s\n", log_rank, level_names[level], msg);
    else
        fprintf(stderr, "[mdsm] %s: %s\n", level_names[level], msg);
    errno = saved_errno;
}
