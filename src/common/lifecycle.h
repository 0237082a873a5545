/* Process-wide lifecycle facts, kept in the lowest module so that every
 * module, the fault handler included, can read them. */
#ifndef MDSM_COMMON_LIFECYCLE_H
#define MDSM_COMMON_LIFECYCLE_H

#include <signal.h>

struct mdsm_lifecycle {
    int finalized;                /* a session ended and none has started since */
    volatile sig_atomic_t forked; /* this process was forked after an mdsm_init */
};

extern struct mdsm_lifecycle mdsm_life;

#endif
