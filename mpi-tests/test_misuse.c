/* Misuse around the session: calls after mdsm_finalize. (Crashes that end
 * the process are checked by progs/misuse_probe.c.) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* ---- after mdsm_finalize -------------------------------------------------------------------- */

MT_TEST(misuse, calls_after_finalize_name_finalize)
{
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    MT_ASSERT_OK(mdsm_finalize());
    MT_EXPECT_RC(mdsm_barrier(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_barrier called after mdsm_finalize") == 0);
    MT_EXPECT_RC(mdsm_finalize(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_finalize called after mdsm_finalize") == 0);
    MT_EXPECT(mdsm_alloc(64) == NULL);
    MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_alloc called after mdsm_finalize") == 0);
    /* Sessions come and go: each one's memory works, each end is named. */
    for (int round = 0; round < 3; round++) {
        MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
        int n = mdsm_nranks(), me = mdsm_rank();
        size_t stride = (size_t)mdsm_page_size() / sizeof(int);
        volatile int *x = mdsm_alloc((size_t)n * stride * sizeof(int));
        MT_ASSERT(x != NULL);
        x[(size_t)me * stride] = round * 10 + me;
        MT_EXPECT_OK(mdsm_barrier());
        for (int q = 0; q < n; q++)
            MT_EXPECT_EQ(x[(size_t)q * stride], round * 10 + q);
        MT_EXPECT_OK(mdsm_barrier());
        MT_ASSERT_OK(mdsm_finalize());
        MT_EXPECT_RC(mdsm_rank(), MDSM_ERR_NOT_INITIALIZED);
        MT_EXPECT(strcmp(mdsm_last_error_message(), "mdsm_rank called after mdsm_finalize") == 0);
    }
}
