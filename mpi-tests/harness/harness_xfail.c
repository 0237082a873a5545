/* Deliberate failures. Each test here must FAIL; ctest runs them through
 * expect-failure checks that also match the harness's messages. */
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
