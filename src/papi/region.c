/* Regions: named PAPI events of any components, counted together through
 * one PAPI event set per component. */
#include <papi.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "papi/sde.h"

struct region_set {
    int cidx;     /* PAPI component index */
    int eventset; /* PAPI event set handle */
    int first;    /* its values are slots first..first+n-1 */
    int n;
};

struct mdsm_papi_region {
    int nevents;
    char **names;     /* copies of the names given, in their order */
    int *slot;        /* event i's value is at slot[i] in set order */
    long long *total; /* per slot: sums over finished intervals */
    long long *now;   /* per slot: scratch for PAPI_read/PAPI_stop */
    struct region_set *sets;
    int nsets;
    int running;
};

static const char *component_name(int cidx)
{
    const PAPI_component_info_t *c = PAPI_get_component_info(cidx);
    return c ? c->name : "?";
}

static int papi_fail(const char *call, const char *what, int prc)
{
    return mdsm_fail(MDSM_ERR_PAPI, "%s: %s failed: %s", call, what, PAPI_strerror(prc));
}

static int ensure_papi(const char *call)
{
    if (PAPI_is_initialized() != PAPI_NOT_INITED)
        return MDSM_OK;
    int v = PAPI_library_init(PAPI_VER_CURRENT);
    if (v != PAPI_VER_CURRENT)
        return mdsm_fail(MDSM_ERR_PAPI, "%s: PAPI_library_init failed: %s", call,
                         v < 0 ? PAPI_strerror(v)
                               : "libpapi is not the version mdsm was built with");
    return MDSM_OK;
}

static void region_free(struct mdsm_papi_region *r)
{
    for (int s = 0; s < r->nsets; s++) {
        if (r->sets[s].eventset != PAPI_NULL) {
            PAPI_cleanup_eventset(r->sets[s].eventset);
            PAPI_destroy_eventset(&r->sets[s].eventset);
        }
    }
    for (int i = 0; r->names && i < r->nevents; i++)
        free(r->names[i]);
    free(r->names);
    free(r->slot);
    free(r->total);
    free(r->now);
    free(r->sets);
    free(r);
}

/* Checks one name and finds its code and component. */
static int resolve(const char *const *events, int i, int *code, int *cidx)
{
    const char *call = "mdsm_papi_region_create";
    const char *name = events[i];
    if (!name || !*name)
        return mdsm_fail(MDSM_ERR_INVALID_ARG,
                         "%s: events[%d] is %s; expected a PAPI event name such as "
                         "sde:::mdsm::READ_FAULTS or perf::PERF_COUNT_SW_PAGE_FAULTS",
                         call, i, name ? "empty" : "NULL");
    for (int j = 0; j < i; j++)
        if (strcmp(events[j], name) == 0)
            return mdsm_fail(MDSM_ERR_INVALID_ARG,
                             "%s: event '%s' is given twice (events[%d] and events[%d]); "
                             "name each event once",
                             call, name, j, i);
    /* PAPI accepts unknown SDE names silently (they might be registered
     * later): catch misspelt mdsm events here. */
    if (strncmp(name, SDE_PREFIX, strlen(SDE_PREFIX)) == 0 && sde_find(name) < 0) {
        char names[320];
        sde_list_names(names, sizeof(names));
        return mdsm_fail(MDSM_ERR_EVENT,
                         "%s: unknown mdsm event '%s'; expected %s<NAME> with NAME one of %s", call,
                         name, SDE_PREFIX, names);
    }
    int prc = PAPI_event_name_to_code(name, code);
    if (prc != PAPI_OK)
        return mdsm_fail(MDSM_ERR_EVENT,
                         "%s: PAPI knows no event '%s' (%s); papi_avail and papi_native_avail "
                         "list the events of this machine",
                         call, name, PAPI_strerror(prc));
    PAPI_event_info_t info;
    prc = PAPI_get_event_info(*code, &info);
    if (prc != PAPI_OK)
        return papi_fail(call, "PAPI_get_event_info", prc);
    *cidx = info.component_index;
    return MDSM_OK;
}

/* Adds event i to its component's event set, making the set on first use;
 * *set_index receives the set. */
static int add_event(struct mdsm_papi_region *r, int i, int code, int cidx, int *set_index)
{
    const char *call = "mdsm_papi_region_create";
    int s = 0;
    while (s < r->nsets && r->sets[s].cidx != cidx)
        s++;
    if (s == r->nsets) {
        struct region_set *set = &r->sets[r->nsets++];
        set->cidx = cidx;
        set->eventset = PAPI_NULL;
        int prc = PAPI_create_eventset(&set->eventset);
        if (prc != PAPI_OK)
            return papi_fail(call, "PAPI_create_eventset", prc);
    }
    struct region_set *set = &r->sets[s];
    int prc = PAPI_add_event(set->eventset, code);
    if (prc == PAPI_ECNFLCT)
        return mdsm_fail(
            MDSM_ERR_EVENT,
            "%s: event '%s' cannot be counted together with the region's other "
            "events of component '%s' (PAPI_add_event: %s); count it in another region",
            call, r->names[i], component_name(cidx), PAPI_strerror(prc));
    if (prc == PAPI_ENOEVNT || prc == PAPI_ENOSUPP)
        return mdsm_fail(MDSM_ERR_EVENT,
                         "%s: event '%s' cannot be counted on this machine (PAPI_add_event: %s); "
                         "hardware events need a PMU, absent in most virtual machines",
                         call, r->names[i], PAPI_strerror(prc));
    if (prc != PAPI_OK)
        return papi_fail(call, "PAPI_add_event", prc);
    r->slot[i] = set->n++; /* made absolute once all sets are known */
    *set_index = s;
    return MDSM_OK;
}

int mdsm_papi_region_create(mdsm_papi_region_t **region, const char *const *events, int nevents)
{
    const char *call = "mdsm_papi_region_create";
    if (!region)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: region is NULL", call);
    if (!events)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: events is NULL", call);
    if (nevents < 1)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: nevents is %d; expected 1 or more", call,
                         nevents);
    int rc = ensure_papi(call);
    if (rc != MDSM_OK)
        return rc;

    struct mdsm_papi_region *r = calloc(1, sizeof(*r));
    if (!r)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "%s: region", call);
    r->nevents = nevents;
    r->names = calloc((size_t)nevents, sizeof(*r->names));
    r->slot = calloc((size_t)nevents, sizeof(*r->slot));
    r->total = calloc((size_t)nevents, sizeof(*r->total));
    r->now = calloc((size_t)nevents, sizeof(*r->now));
    r->sets = calloc((size_t)nevents, sizeof(*r->sets));
    int *set_of = calloc((size_t)nevents, sizeof(*set_of));
    if (!r->names || !r->slot || !r->total || !r->now || !r->sets || !set_of) {
        rc = mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "%s: tables for %d events", call, nevents);
        goto err;
    }
    for (int i = 0; i < nevents; i++) {
        int code = 0, cidx = 0;
        rc = resolve(events, i, &code, &cidx);
        if (rc != MDSM_OK)
            goto err;
        if (!(r->names[i] = strdup(events[i]))) {
            rc = mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "%s: event name", call);
            goto err;
        }
        rc = add_event(r, i, code, cidx, &set_of[i]);
        if (rc != MDSM_OK)
            goto err;
    }
    for (int s = 1; s < r->nsets; s++)
        r->sets[s].first = r->sets[s - 1].first + r->sets[s - 1].n;
    for (int i = 0; i < nevents; i++)
        r->slot[i] += r->sets[set_of[i]].first;
    free(set_of);
    *region = r;
    return MDSM_OK;

err:
    free(set_of);
    region_free(r);
    return rc;
}

/* Stops sets [0, n) in reverse order, adding their counts to the totals when
 * keep is set. Returns the first PAPI error. */
static int stop_sets(struct mdsm_papi_region *r, int n, int keep)
{
    int first_error = PAPI_OK;
    for (int s = n - 1; s >= 0; s--) {
        struct region_set *set = &r->sets[s];
        int prc = PAPI_stop(set->eventset, r->now + set->first);
        if (prc != PAPI_OK) {
            if (first_error == PAPI_OK)
                first_error = prc;
            continue;
        }
        for (int k = 0; keep && k < set->n; k++)
            r->total[set->first + k] += r->now[set->first + k];
    }
    return first_error;
}

int mdsm_papi_region_start(mdsm_papi_region_t *r)
{
    const char *call = "mdsm_papi_region_start";
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: region is NULL", call);
    if (r->running)
        return mdsm_fail(MDSM_ERR_CALL_ORDER,
                         "%s: the region is already running; call mdsm_papi_region_stop first",
                         call);
    for (int s = 0; s < r->nsets; s++) {
        int prc = PAPI_start(r->sets[s].eventset);
        if (prc == PAPI_OK)
            continue;
        stop_sets(r, s, 0);
        if (prc == PAPI_EISRUN)
            return mdsm_fail(MDSM_ERR_CALL_ORDER,
                             "%s: another PAPI event set of component '%s' is running in this "
                             "thread (another region, or the application's own); PAPI runs one "
                             "per component at a time: stop it first",
                             call, component_name(r->sets[s].cidx));
        return papi_fail(call, "PAPI_start", prc);
    }
    r->running = 1;
    return MDSM_OK;
}

int mdsm_papi_region_stop(mdsm_papi_region_t *r)
{
    const char *call = "mdsm_papi_region_stop";
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: region is NULL", call);
    if (!r->running)
        return mdsm_fail(MDSM_ERR_CALL_ORDER,
                         "%s: the region is not running; call mdsm_papi_region_start first", call);
    r->running = 0;
    int prc = stop_sets(r, r->nsets, 1);
    return prc == PAPI_OK ? MDSM_OK : papi_fail(call, "PAPI_stop", prc);
}

int mdsm_papi_region_reset(mdsm_papi_region_t *r)
{
    const char *call = "mdsm_papi_region_reset";
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: region is NULL", call);
    memset(r->total, 0, (size_t)r->nevents * sizeof(*r->total));
    for (int s = 0; r->running && s < r->nsets; s++) {
        int prc = PAPI_reset(r->sets[s].eventset);
        if (prc != PAPI_OK)
            return papi_fail(call, "PAPI_reset", prc);
    }
    return MDSM_OK;
}

int mdsm_papi_region_read(const mdsm_papi_region_t *r, long long *values, int nvalues)
{
    const char *call = "mdsm_papi_region_read";
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: region is NULL", call);
    if (!values)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: values is NULL", call);
    if (nvalues != r->nevents)
        return mdsm_fail(MDSM_ERR_INVALID_ARG,
                         "%s: nvalues is %d but the region counts %d events; pass an array of "
                         "%d values",
                         call, nvalues, r->nevents, r->nevents);
    for (int s = 0; r->running && s < r->nsets; s++) {
        int prc = PAPI_read(r->sets[s].eventset, r->now + r->sets[s].first);
        if (prc != PAPI_OK)
            return papi_fail(call, "PAPI_read", prc);
    }
    for (int i = 0; i < r->nevents; i++)
        values[i] = r->total[r->slot[i]] + (r->running ? r->now[r->slot[i]] : 0);
    return MDSM_OK;
}

int mdsm_papi_region_print(const mdsm_papi_region_t *r, FILE *out)
{
    const char *call = "mdsm_papi_region_print";
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: region is NULL", call);
    if (!out)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "%s: out is NULL", call);
    long long *v = malloc((size_t)r->nevents * sizeof(*v));
    if (!v)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "%s: values", call);
    int rc = mdsm_papi_region_read(r, v, r->nevents);
    for (int i = 0; rc == MDSM_OK && i < r->nevents; i++)
        fprintf(out, "%-36s %lld\n", r->names[i], v[i]);
    free(v);
    return rc;
}

int mdsm_papi_region_num_events(const mdsm_papi_region_t *r)
{
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_papi_region_num_events: region is NULL");
    return r->nevents;
}

int mdsm_papi_region_num_eventsets(const mdsm_papi_region_t *r)
{
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_papi_region_num_eventsets: region is NULL");
    return r->nsets;
}

int mdsm_papi_region_destroy(mdsm_papi_region_t *r)
{
    if (!r)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_papi_region_destroy: region is NULL");
    if (r->running)
        stop_sets(r, r->nsets, 0);
    region_free(r);
    return MDSM_OK;
}
