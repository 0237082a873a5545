#include "papi/sde.h"

#include <sde_lib.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/error.h"
#include "common/log.h"
#include "stats/stats.h"

/* A field of mdsm_stats_t: a count, or seconds exported as nanoseconds. */
enum sde_kind { SDE_COUNT, SDE_SECONDS };

struct sde_event {
    const char *full; /* sde:::mdsm::NAME, as readers write it */
    const char *name; /* NAME, as registered */
    size_t offset;    /* in mdsm_stats_t */
    enum sde_kind kind;
    const char *description;
};

#define EVENT(NAME, field, kind, description)                                                      \
    {                                                                                              \
        SDE_PREFIX #NAME, #NAME, offsetof(mdsm_stats_t, field), kind, description                  \
    }

/* The one list of mdsm's events: registration, the papi_native_avail hook,
 * mdsm_papi_event and the region's name check all read it. */
static const struct sde_event events[] = {
    EVENT(READ_FAULTS, read_faults, SDE_COUNT, "Faults on global pages this rank could not read"),
    EVENT(WRITE_FAULTS, write_faults, SDE_COUNT,
          "First writes to a global page in a synchronisation interval"),
    EVENT(PAGES_FETCHED, pages_fetched, SDE_COUNT, "Remote pages read from their home rank"),
    EVENT(BYTES_FETCHED, bytes_fetched, SDE_COUNT, "Bytes of remote pages read from their home"),
    EVENT(DIFFS, diffs, SDE_COUNT, "Pages whose changes were written to their home rank"),
    EVENT(DIFF_BYTES, diff_bytes, SDE_COUNT, "Changed bytes written to home ranks"),
    EVENT(INVALIDATIONS, invalidations, SDE_COUNT,
          "Cached pages dropped because another rank changed them"),
    EVENT(EVICTIONS, evictions, SDE_COUNT, "Cached pages dropped to make room in the cache"),
    EVENT(LOCK_ACQUIRES, lock_acquires, SDE_COUNT, "mdsm_lock calls that acquired a lock"),
    EVENT(LOCK_WAIT_NS, lock_wait_s, SDE_SECONDS, "Nanoseconds spent in mdsm_lock"),
    EVENT(BARRIERS, barriers, SDE_COUNT, "mdsm_barrier calls"),
    EVENT(BARRIER_NS, barrier_s, SDE_SECONDS, "Nanoseconds spent in mdsm_barrier"),
    EVENT(NODE_READ_FAULTS, node_read_faults, SDE_COUNT,
          "Read faults on pages homed on this node: no transfer"),
    EVENT(NODE_WRITE_FAULTS, node_write_faults, SDE_COUNT,
          "First writes to pages homed on this node: no twin, no diff"),
    EVENT(SHARED_HOME_PAGES, shared_home_pages, SDE_COUNT,
          "This rank's home pages that another node has fetched"),
    EVENT(PAGES_PREFETCHED, pages_prefetched, SDE_COUNT,
          "Pages fetched with no fault of their own (prefetch)"),
    EVENT(PAGES_REFRESHED, pages_refreshed, SDE_COUNT,
          "Cached pages updated in place at a lock acquire"),
    EVENT(RMA_OPS, rma_ops, SDE_COUNT, "One-sided MPI operations this rank issued"),
    EVENT(RMA_BYTES, rma_bytes, SDE_COUNT, "Bytes moved by this rank's one-sided operations"),
    EVENT(MESSAGES, messages, SDE_COUNT, "Point-to-point messages this rank sent (locks)"),
    EVENT(MESSAGE_BYTES, message_bytes, SDE_COUNT, "Bytes of this rank's point-to-point messages"),
    EVENT(COLLECTIVES, collectives, SDE_COUNT, "mdsm's MPI collectives (barrier, alloc, free)"),
    EVENT(COLLECTIVE_BYTES, collective_bytes, SDE_COUNT,
          "Bytes mdsm's collectives brought this rank"),
};

#define NUM_EVENTS ((int)(sizeof(events) / sizeof(events[0])))

/* Every field of mdsm_stats_t is 8 bytes: one entry per field. */
_Static_assert(sizeof(events) / sizeof(events[0]) * 8 == sizeof(mdsm_stats_t),
               "every field of mdsm_stats_t needs an entry in the SDE table");

static int registered; /* events registered by the constructor */

/* Counts since the process started: a reset moves mdsm_stat into
 * mdsm_stat_retired, so the sum never goes back (PAPI reports differences). */
static long long read_event(void *param)
{
    const struct sde_event *e = param;
    const char *now = (const char *)&mdsm_stat + e->offset;
    const char *old = (const char *)&mdsm_stat_retired + e->offset;
    if (e->kind == SDE_SECONDS)
        return (long long)((*(const double *)now + *(const double *)old) * 1e9);
    return (long long)(*(const uint64_t *)now + *(const uint64_t *)old);
}

/* Registers the table through f: libsde's own functions for this process,
 * or papi_native_avail's when it lists the events of libmdsm.so. */
static papi_handle_t register_events(papi_sde_fptr_struct_t *f, int *count)
{
    papi_handle_t h = f->init("mdsm");
    *count = 0;
    if (!h)
        return NULL;
    for (int i = 0; i < NUM_EVENTS; i++) {
        const struct sde_event *e = &events[i];
        if (f->register_counter_cb(h, e->name, PAPI_SDE_RO | PAPI_SDE_DELTA, PAPI_SDE_long_long,
                                   read_event, (void *)e) != SDE_OK)
            continue;
        f->describe_counter(h, e->name, e->description);
        ++*count;
    }
    return h;
}

/* Called by papi_native_avail -sde libmdsm.so (and only by PAPI tools). */
__attribute__((visibility("default"))) papi_handle_t
papi_sde_hook_list_events(papi_sde_fptr_struct_t *fptr_struct)
{
    int count;
    return register_events(fptr_struct, &count);
}

/* Once per process, at load: the events then exist before any reader adds
 * them, and outlive every mdsm_init/mdsm_finalize cycle. They are never
 * unregistered (papi_sde_shutdown and re-registering crash PAPI 7.0.0). */
__attribute__((constructor)) static void sde_register(void)
{
    papi_sde_fptr_struct_t f;
    memset(&f, 0, sizeof(f));
    POPULATE_SDE_FPTR_STRUCT(f);
    register_events(&f, &registered);
}

int sde_find(const char *name)
{
    for (int i = 0; i < NUM_EVENTS; i++)
        if (strcmp(name, events[i].full) == 0)
            return i;
    return -1;
}

void sde_list_names(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < NUM_EVENTS && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", events[i].name);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

void sde_info_print(FILE *out)
{
    fprintf(out, "papi sde: %d of %d events registered (%s<NAME>)\n", registered, NUM_EVENTS,
            SDE_PREFIX);
}

int mdsm_papi_num_events(void)
{
    return NUM_EVENTS;
}

int mdsm_papi_event(int index, const char **name, const char **description)
{
    if (index < 0 || index >= NUM_EVENTS)
        return mdsm_fail(MDSM_ERR_INVALID_ARG,
                         "mdsm_papi_event: index %d is out of range; expected 0..%d", index,
                         NUM_EVENTS - 1);
    if (name)
        *name = events[index].full;
    if (description)
        *description = events[index].description;
    return MDSM_OK;
}
