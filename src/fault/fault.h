/* The SIGSEGV handler: faults inside global memory go to the cache; all
 * others go on to the handler installed before ours (the application's or
 * MPI's), or crash the way they would without mdsm. Misuse of mdsm memory
 * (after mdsm_finalize, in a forked child, unmapped by the application) is
 * named in one line first. */
#ifndef MDSM_FAULT_FAULT_H
#define MDSM_FAULT_FAULT_H

int fault_install(void);

/* For a failed mdsm_init: gives the handler back to the previous one. */
void fault_uninstall(void);

/* For mdsm_finalize: faults are no longer served, but the handler stays, to
 * name accesses to the former range and pass every other fault on. */
void fault_retire(void);

/* Warns once per session if the SIGSEGV handler is no longer ours and has
 * not passed a fault to mdsm_handle_fault. One sigaction query; unless
 * always, at most one per FAULT_CHECK_PERIOD_MS of the process: programs
 * call mdsm_lock, mdsm_fetch_add and the like in loops, where a system call
 * each is a good part of their cost. */
#define FAULT_CHECK_PERIOD_MS 10
void fault_check_handler(int always);

#endif
