/* hello: starts mdsm on every rank, shows the configuration in force and
 * checks that all ranks agree on the session (rank numbers and size). */
#include <stdio.h>
#include <stdlib.h>

#include "mdsm.h"

int main(void)
{
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    if (rc != MDSM_OK) {
        fprintf(stderr, "hello: mdsm_init failed: %s: %s\n", mdsm_strerror(rc),
                mdsm_last_error_message());
        return 1;
    }
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    long sum = 0, mine = rank;
    MPI_Allreduce(&mine, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    int ok = sum == (long)nranks * (nranks - 1) / 2;
    if (rank == 0) {
        printf("hello: mdsm %s on %d ranks\n", MDSM_VERSION_STRING, nranks);
        for (int i = 0; i < mdsm_config_num_vars(); i++) {
            mdsm_config_var_t v;
            if (mdsm_config_var(i, &v) == MDSM_OK)
                printf("  %-24s %s\n", v.name, v.value);
        }
        printf("hello: %s\n", ok ? "verified: every rank took part" : "FAILED: rank sum wrong");
    }
    rc = mdsm_finalize();
    return ok && rc == MDSM_OK ? 0 : 1;
}
