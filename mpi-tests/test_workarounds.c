/*
 * MPI workarounds: the table mdsm_workaround() reports, and the conditions
 * the workarounds exist for. Which ones are on for the MPI in use is checked
 * against the build's own MPI by the info.lists_mpi_workarounds entries.
 */
#include <stdint.h>
#include <string.h>

#include "mt.h"

MT_TEST(workarounds, table_is_complete_and_checked)
{
    int n = mdsm_workaround_count();
    MT_ASSERT(n > 0);
    for (int i = 0; i < n; i++) {
        mdsm_workaround_t w;
        MT_ASSERT_OK(mdsm_workaround(i, &w));
        MT_EXPECT(w.name && *w.name && w.bug && *w.bug && w.remedy && *w.remedy && w.detect &&
                  *w.detect);
        MT_EXPECT(w.active == 0 || w.active == 1);
        for (int j = 0; j < i; j++) {
            mdsm_workaround_t o;
            MT_ASSERT_OK(mdsm_workaround(j, &o));
            MT_EXPECT(strcmp(o.name, w.name) != 0);
        }
    }
    mdsm_workaround_t w;
    MT_EXPECT_RC(mdsm_workaround(-1, &w), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_RC(mdsm_workaround(n, &w), MDSM_ERR_INVALID_ARG);
    MT_EXPECT(strstr(mdsm_last_error_message(), "outside 0..") != NULL);
    MT_EXPECT_RC(mdsm_workaround(0, NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT(strstr(mdsm_last_error_message(), "out is NULL") != NULL);
}

/* The lock count sets the meta window's size: 1..8 locks give sizes that are,
 * and are not, multiples of 16 on any rank count. Under MPICH without
 * win_allocate_pad, lock handovers to ranks other than 0 then land beside
 * their target and the queue hangs. Every increment must arrive. */
MT_TEST(workarounds, locks_hand_over_at_every_meta_window_size)
{
    enum { ROUNDS = 20 };
    for (int locks = 1; locks <= 8; locks++) {
        mdsm_config_t cfg;
        MT_ASSERT_OK(mdsm_config_init(&cfg));
        cfg.num_locks = locks;
        MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
        int64_t *counts = mdsm_alloc((size_t)locks * sizeof(int64_t));
        MT_EXPECT(counts != NULL);
        for (int r = 0; counts && r < ROUNDS; r++) {
            for (int id = 0; id < locks; id++) {
                MT_EXPECT_OK(mdsm_lock(id));
                counts[id]++;
                MT_EXPECT_OK(mdsm_unlock(id));
            }
        }
        MT_EXPECT_OK(mdsm_barrier());
        for (int id = 0; counts && id < locks; id++)
            MT_EXPECT_EQ(counts[id], (int64_t)ROUNDS * mdsm_nranks());
        if (counts)
            MT_EXPECT_OK(mdsm_free(counts));
        MT_ASSERT_OK(mdsm_finalize());
    }
}
