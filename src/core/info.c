/* mdsm_info_print: one rank's runtime decisions, gathered from the modules
 * that made them. */
#include <stdio.h>

#include "common/error.h"
#include "core/context.h"
#include "papi/sde.h"
#include "rma/quirks.h"
#include "topo/topo.h"

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
    return MDSM_OK;
}
