/* The SIGSEGV handler: faults inside global memory go to the cache; all
 * others go on to the handler installed before ours (the application's or
 * MPI's), or crash the way they would without mdsm. */
#ifndef MDSM_FAULT_FAULT_H
#define MDSM_FAULT_FAULT_H

int fault_install(void);
void fault_uninstall(void);

#endif
