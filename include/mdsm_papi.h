/*
 * mdsm_papi: mdsm's statistics as PAPI events, and regions of code counted
 * with mdsm's events and any other PAPI events together.
 *
 * Every field of mdsm_stats_t is a PAPI Software Defined Event of this
 * process, named "sde:::mdsm::<NAME>" (mdsm_papi_event lists them; so does
 * `papi_native_avail -sde <path>/libmdsm.so`). The two times are counted in
 * integer nanoseconds: LOCK_WAIT_NS and BARRIER_NS. The events exist as soon
 * as libmdsm is loaded, whether or not mdsm is initialised, and count this
 * process's mdsm activity across every mdsm_init/mdsm_finalize cycle; they
 * never go back, so mdsm_stats_reset does not disturb a running PAPI count
 * (see mdsm.h). Any PAPI program reads them with PAPI_add_named_event.
 *
 * PAPI counts only events of one component (sde, perf_event, ...) in an
 * event set, and runs one event set per component at a time in a thread. A
 * region takes a list of event names, makes one event set per component, and
 * starts, stops and reads them together; values come back in the order of the
 * names. Hardware events (PAPI_TOT_INS, perf::INSTRUCTIONS) need a PMU: in
 * most virtual machines they are absent and creating a region with one fails
 * with MDSM_ERR_EVENT. Software events such as perf::PERF_COUNT_SW_PAGE_FAULTS
 * work everywhere perf_event does.
 *
 *   const char *events[] = {"sde:::mdsm::READ_FAULTS", "sde:::mdsm::DIFF_BYTES",
 *                           "perf::PERF_COUNT_SW_PAGE_FAULTS"};
 *   mdsm_papi_region_t *r;
 *   if (mdsm_papi_region_create(&r, events, 3) != MDSM_OK)
 *       fprintf(stderr, "%s\n", mdsm_last_error_message());
 *   mdsm_papi_region_start(r);
 *   ... the region of interest (may be entered many times) ...
 *   mdsm_papi_region_stop(r);
 *   long long v[3];
 *   mdsm_papi_region_read(r, v, 3);         // or mdsm_papi_region_print(r, stdout)
 *   mdsm_papi_region_destroy(r);
 *
 * A region counts the calling thread: create, start, stop and read it in one
 * thread. mdsm calls PAPI_library_init if the application has not, and never
 * calls PAPI_shutdown. None of these calls is collective or needs mdsm to be
 * initialised. Errors: MDSM_ERR_INVALID_ARG (NULL, counts, duplicates),
 * MDSM_ERR_EVENT (unknown or uncountable event), MDSM_ERR_CALL_ORDER (start
 * of a running region, stop of a stopped one, an event set of the same
 * component already running), MDSM_ERR_PAPI (PAPI failed otherwise); the
 * message in mdsm_last_error_message() names the event and PAPI's reason.
 */
#ifndef MDSM_PAPI_H
#define MDSM_PAPI_H

#include <stdio.h>

#include "mdsm.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- mdsm's events ------------------------------------------------------ */

/* Number of sde:::mdsm:: events (one per field of mdsm_stats_t). Never fails. */
int mdsm_papi_num_events(void);

/* Full PAPI name ("sde:::mdsm::READ_FAULTS") and description of event index,
 * 0 <= index < mdsm_papi_num_events(); static strings. Either output may be
 * NULL. Error: MDSM_ERR_INVALID_ARG for a bad index. */
int mdsm_papi_event(int index, const char **name, const char **description);

/* ---- Regions ------------------------------------------------------------- */

typedef struct mdsm_papi_region mdsm_papi_region_t;

/* Makes a stopped region counting the nevents PAPI events named in events
 * (each name once), grouped into one event set per PAPI component. Names of
 * the form sde:::mdsm::NAME are checked against mdsm's list. *region is set
 * only on success. Errors: MDSM_ERR_INVALID_ARG (region or events NULL,
 * nevents < 1, a NULL or empty name, a name given twice), MDSM_ERR_EVENT
 * (PAPI knows no such event, or cannot count it here, or not alongside the
 * others of its component), MDSM_ERR_PAPI, MDSM_ERR_NO_MEMORY. */
int mdsm_papi_region_create(mdsm_papi_region_t **region, const char *const *events, int nevents);

/* Starts counting every event set of the region. Errors: MDSM_ERR_INVALID_ARG,
 * MDSM_ERR_CALL_ORDER (the region is running, or another event set of one of
 * its components is running in this thread: stop that first), MDSM_ERR_PAPI.
 * On error nothing is left running. */
int mdsm_papi_region_start(mdsm_papi_region_t *region);

/* Stops counting and adds what was counted since the start to the region's
 * totals. Errors: MDSM_ERR_INVALID_ARG, MDSM_ERR_CALL_ORDER (not running),
 * MDSM_ERR_PAPI (the region is stopped all the same). */
int mdsm_papi_region_stop(mdsm_papi_region_t *region);

/* Zeroes the totals (and, while running, restarts counting from now).
 * Errors: MDSM_ERR_INVALID_ARG, MDSM_ERR_PAPI. */
int mdsm_papi_region_reset(mdsm_papi_region_t *region);

/* Writes the totals of all start..stop intervals since creation or the last
 * reset, plus the running interval so far, into values[0..nvalues), in the
 * order of the names given at creation. Errors: MDSM_ERR_INVALID_ARG (NULL,
 * or nvalues is not the region's number of events), MDSM_ERR_PAPI. */
int mdsm_papi_region_read(const mdsm_papi_region_t *region, long long *values, int nvalues);

/* Writes "name value" lines, one per event, as mdsm_papi_region_read gives
 * them. Errors: MDSM_ERR_INVALID_ARG, MDSM_ERR_PAPI. */
int mdsm_papi_region_print(const mdsm_papi_region_t *region, FILE *out);

/* Number of events of the region, or MDSM_ERR_INVALID_ARG (negative). */
int mdsm_papi_region_num_events(const mdsm_papi_region_t *region);

/* Number of PAPI event sets (one per component) the region runs, or
 * MDSM_ERR_INVALID_ARG (negative). */
int mdsm_papi_region_num_eventsets(const mdsm_papi_region_t *region);

/* Stops the region if it is running and frees it with its event sets.
 * Error: MDSM_ERR_INVALID_ARG (NULL). */
int mdsm_papi_region_destroy(mdsm_papi_region_t *region);

#ifdef __cplusplus
}
#endif

#endif /* MDSM_PAPI_H */
