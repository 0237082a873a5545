/* Release and acquire, shared by locks, barriers, fences and atomics. */
#ifndef MDSM_SYNC_SYNC_H
#define MDSM_SYNC_SYNC_H

#include <pthread.h>

/* Writes this interval's changes home and publishes their notices: those of
 * every thread of the rank, made before the call. Any thread. announce: see
 * notice_publish (0 for a barrier's release). */
int sync_release(int announce);

/* The rank's synchronisation state (the notice vector and what was caught up
 * with, the lock table and its link receive) is shared by its threads and
 * held with these around each use: never across a wait for another rank,
 * and code holding it never touches global memory (it takes the cache's
 * mutex inside, never the reverse). */
void sync_enter(void);
void sync_exit(void);
/* Between sync_enter and sync_exit: waits for cv, the mutex dropped meanwhile. */
void sync_wait(pthread_cond_t *cv);

#endif
