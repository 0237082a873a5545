#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/log.h"

static __thread int last_status = MDSM_OK;
static __thread char last_message[512];

const char *mdsm_strerror(int status)
{
    switch (status) {
    case MDSM_OK: return "success";
    case MDSM_ERR_NOT_INITIALIZED: return "mdsm is not initialised";
    case MDSM_ERR_ALREADY_INITIALIZED: return "mdsm is already initialised";
    case MDSM_ERR_INVALID_ARG: return "invalid argument";
    case MDSM_ERR_CONFIG: return "invalid configuration value";
    case MDSM_ERR_THREAD_LEVEL: return "MPI thread level too low for mdsm";
    case MDSM_ERR_MPI: return "MPI call failed";
    case MDSM_ERR_NO_MEMORY: return "out of local memory";
    case MDSM_ERR_SYSTEM: return "system call failed";
    case MDSM_ERR_REMOTE: return "the operation failed on another rank";
    case MDSM_ERR_OUT_OF_SPACE: return "global space exhausted";
    case MDSM_ERR_NOT_ALLOCATION: return "pointer is not an mdsm allocation";
    case MDSM_ERR_LOCK_ID: return "lock id out of range";
    case MDSM_ERR_NOT_LOCK_HOLDER: return "lock not held by the caller";
    case MDSM_ERR_LOCK_HELD: return "lock already held by the caller";
    case MDSM_ERR_NOT_GLOBAL: return "address is not in mdsm global memory";
    case MDSM_ERR_ALIGNMENT: return "address is not 8-byte aligned";
    case MDSM_ERR_MISMATCH: return "ranks passed different arguments to a collective call";
    case MDSM_ERR_INTERNAL: return "internal error in mdsm";
    case MDSM_ERR_PAPI: return "PAPI call failed";
    case MDSM_ERR_EVENT: return "PAPI event unknown or not countable here";
    case MDSM_ERR_CALL_ORDER: return "call out of order";
    case MDSM_ERR_FORKED: return "called in a process forked after mdsm_init";
    case MDSM_ERR_CONCURRENT: return "collective call made from two threads of one rank at once";
    }
    return "unknown mdsm status code";
}

int mdsm_last_error(void)
{
    return last_status;
}

const char *mdsm_last_error_message(void)
{
    return last_message;
}

static int record(int level, int status, const char *fmt, va_list ap)
{
    last_status = status;
    vsnprintf(last_message, sizeof(last_message), fmt, ap);
    mdsm_log(level, "%s (%s)", last_message, mdsm_strerror(status));
    return status;
}

int mdsm_fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(MDSM_LOG_INFO, status, fmt, ap);
    va_end(ap);
    return status;
}

int mdsm_fail_internal(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    record(MDSM_LOG_ERROR, status, fmt, ap);
    va_end(ap);
    return status;
}
