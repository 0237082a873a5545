/* mdsm's statistics as PAPI Software Defined Events: one table, registered
 * once per process when libmdsm is loaded. */
#ifndef MDSM_PAPI_SDE_H
#define MDSM_PAPI_SDE_H

#include <stdio.h>

#include "mdsm_papi.h"

#define SDE_PREFIX "sde:::mdsm::"

/* Index of the event with this full name ("sde:::mdsm::READ_FAULTS"), or -1. */
int sde_find(const char *name);

/* Writes the accepted names, comma-separated, into buf (for error messages). */
void sde_list_names(char *buf, size_t size);

/* The "papi sde:" line of mdsm_info_print. */
void sde_info_print(FILE *out);

#endif
