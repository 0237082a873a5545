/* Deliberate failures and skips. Each xfail test here must FAIL, each skip
 * test must be reported SKIPPED; ctest runs them through checks that match
 * the exit status and the harness's messages. */
#include <unistd.h>

#include "mt.h"

/* Only the last rank fails: every rank must report the failure. */
MT_TEST(xfail, one_rank_fails)
{
    int rank = mt_rank();
    if (rank == mt_nranks() - 1)
        MT_EXPECT_EQ(rank, -1);
}

/* Rank 0 leaves early while the others wait in a collective: the harness must
 * abort within MT_AGREE_TIMEOUT instead of hanging. */
MT_TEST(xfail, rank_leaves_early)
{
    MT_ASSERT(mt_rank() != 0);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Every rank hangs: the watchdog must abort within MT_TIMEOUT. */
MT_TEST(xfail, all_ranks_hang)
{
    sleep(600);
}

/* Every rank skips: the test is SKIPPED with the reason, and the job passes. */
MT_TEST(skip, all_ranks_skip)
{
    MT_SKIP("no frobnicator on rank %d", mt_rank());
    MT_EXPECT(0); /* not reached */
}

/* Rank 0 skips but the last rank fails: the failure wins. */
MT_TEST(skip, failure_beats_skip)
{
    if (mt_rank() == 0 && mt_nranks() > 1)
        MT_SKIP("rank 0 has no frobnicator");
    MT_EXPECT_EQ(mt_rank(), -1);
}
