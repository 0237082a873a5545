/* The state of one mdsm session, shared by the modules of the library. */
#ifndef MDSM_CORE_CONTEXT_H
#define MDSM_CORE_CONTEXT_H

#include <mpi.h>
#include <stdint.h>

#include "config/config.h"

struct mdsm_context {
    int initialized;
    int owns_mpi;  /* mdsm_init initialised MPI, so mdsm_finalize finalises it */
    MPI_Comm comm; /* private duplicate of the caller's communicator */
    int rank;
    int nranks;
    struct mdsm_config_resolved config;
    uint64_t *scratch_heads; /* one entry per rank, for fences (under sync_enter) */
    uint64_t *barrier_heads; /* one entry per rank, for barriers (one thread at a time) */
    uint64_t barriers;       /* mdsm_barrier calls this session: numbers them for the watchdog */
};

extern struct mdsm_context mdsm_ctx;

/* Returns MDSM_OK when initialised, else records MDSM_ERR_NOT_INITIALIZED
 * (naming mdsm_init or mdsm_finalize) or MDSM_ERR_FORKED for the named API
 * call and returns it. Also warns once if the SIGSEGV handler was replaced
 * (fault_check_handler: a sigaction query at most every 10 ms; every time
 * from mdsm_collective_begin). */
int mdsm_check_initialized(const char *call);

/* The same without the handler check, for local getters that programs call
 * in loops (mdsm_rank, mdsm_home_of...), where a system call would dominate. */
int mdsm_check_session(const char *call);

/* Around mdsm_barrier, mdsm_alloc, mdsm_free and mdsm_finalize: one thread
 * of a rank at a time. begin checks the session as mdsm_check_initialized
 * does, then fails with MDSM_ERR_CONCURRENT if another thread of the rank is
 * inside one; end only after a successful begin. */
int mdsm_collective_begin(const char *call);
void mdsm_collective_end(void);

/* Collective over comm: every rank passes its local status and all receive the
 * agreed one (MDSM_OK only if every rank succeeded; a rank that succeeded
 * while another failed gets MDSM_ERR_REMOTE). */
int mdsm_agree(MPI_Comm comm, int local_status, const char *what);

#endif
