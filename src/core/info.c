/* mdsm_info_print: one rank's runtime decisions, gathered from the modules
 * that made them. */
#include <stdio.h>

#include "cache/cache.h"
#include "common/error.h"
#include "core/context.h"
#include "papi/sde.h"
#include "progress/progress.h"
#include "rma/quirks.h"
#include "space/space.h"
#include "topo/topo.h"

/* Which ranks' home pages this rank uses in place, and the mappings it holds. */
static void memory_info_print(FILE *out)
{
    const struct space *sp = &mdsm_space;
    fprintf(out, "node sharing: ");
    if (sp->sharing) {
        fprintf(out, "on, home pages of ranks");
        /* Ranks as ranges: "0-3,8". */
        for (int r = 0, first = 1; r < sp->nranks; r++) {
            if (!sp->shares[r] || (r > 0 && sp->shares[r - 1]))
                continue;
            int last = r;
            while (last + 1 < sp->nranks && sp->shares[last + 1])
                last++;
            fprintf(out, first ? " %d" : ",%d", r);
            if (last > r)
                fprintf(out, "-%d", last);
            first = 0;
        }
        fprintf(out, " used in place (%d ranks on this node)\n", sp->node_nranks);
    } else if (sp->sharing_wanted && !sp->sharing_failed) {
        fprintf(out, "on, alone on this node\n");
    } else {
        fprintf(out, "%s\n", sp->sharing_note);
    }
    uint64_t used, budget, kmax;
    cache_mappings(&used, &budget, &kmax);
    fprintf(out, "mappings: %llu of %llu (vm.max_map_count %llu)\n", (unsigned long long)used,
            (unsigned long long)budget, (unsigned long long)kmax);
}

int mdsm_info_print(FILE *out)
{
    int rc = mdsm_check_initialized("mdsm_info_print");
    if (rc != MDSM_OK)
        return rc;
    if (!out)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_info_print: out is NULL");
    fprintf(out, "rank: %d of %d\n", mdsm_ctx.rank, mdsm_ctx.nranks);
    sde_info_print(out);
    topo_info_print(out);
    memory_info_print(out);
    progress_info_print(out);
    quirks_info_print(out);
    fflush(out);
    return MDSM_OK;
}

int mdsm_placement_get(mdsm_placement_t *out)
{
    int rc = mdsm_check_initialized("mdsm_placement_get");
    if (rc != MDSM_OK)
        return rc;
    if (!out)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_placement_get: out is NULL");
    topo_placement(out);
    out->node_sharing = mdsm_space.sharing_wanted && !mdsm_space.sharing_failed;
    return MDSM_OK;
}
