/* Status codes, the per-thread last error, and the error-recording helper. */
#ifndef MDSM_COMMON_ERROR_H
#define MDSM_COMMON_ERROR_H

#include "mdsm.h"

/* Records status and a formatted detail message as this thread's last error,
 * logs it at info level (bad input prints nothing unless logging is on), and
 * returns status so that callers can write `return mdsm_fail(...)`. */
int mdsm_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Like mdsm_fail, but for failures of the library or system (logged at error). */
int mdsm_fail_internal(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
