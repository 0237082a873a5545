/* Release and acquire, shared by locks, barriers, fences and atomics. */
#ifndef MDSM_SYNC_SYNC_H
#define MDSM_SYNC_SYNC_H

/* Writes this interval's changes home and publishes their notices. */
int sync_release(void);

#endif
