/* Lifecycle and state checks: init, finalize, rank queries, status codes. */
#include <stdlib.h>
#include <string.h>

#include "mt.h"

MT_TEST(init, calls_before_init_fail)
{
    MT_EXPECT_EQ(mdsm_initialized(), 0);
    MT_EXPECT_RC(mdsm_rank(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT_EQ(mdsm_last_error(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT(strstr(mdsm_last_error_message(), "mdsm_rank") != NULL);
    MT_EXPECT_RC(mdsm_nranks(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT_RC(mdsm_finalize(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT(strstr(mdsm_last_error_message(), "mdsm_finalize") != NULL);
}

MT_TEST(init, init_finalize_and_again)
{
    for (int round = 0; round < 3; round++) {
        MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
        MT_EXPECT_EQ(mdsm_initialized(), 1);
        MT_EXPECT_EQ(mdsm_rank(), mt_rank());
        MT_EXPECT_EQ(mdsm_nranks(), mt_nranks());
        MT_ASSERT_OK(mdsm_finalize());
        MT_EXPECT_EQ(mdsm_initialized(), 0);
        MT_EXPECT_RC(mdsm_rank(), MDSM_ERR_NOT_INITIALIZED);
    }
}

MT_MDSM_TEST(init, second_init_fails_and_leaves_session_intact)
{
    MT_EXPECT_RC(mdsm_init(MPI_COMM_WORLD, NULL), MDSM_ERR_ALREADY_INITIALIZED);
    MT_EXPECT_EQ(mdsm_last_error(), MDSM_ERR_ALREADY_INITIALIZED);
    MT_EXPECT_EQ(mdsm_initialized(), 1);
    MT_EXPECT_EQ(mdsm_nranks(), mt_nranks());
}

MT_TEST(init, null_communicator_rejected)
{
    MT_EXPECT_RC(mdsm_init(MPI_COMM_NULL, NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_EQ(mdsm_initialized(), 0);
}

MT_TEST(init, runs_on_a_subcommunicator)
{
    MPI_Comm half;
    MPI_Comm_split(MPI_COMM_WORLD, mt_rank() % 2, mt_rank(), &half);
    int hrank, hsize;
    MPI_Comm_rank(half, &hrank);
    MPI_Comm_size(half, &hsize);
    MT_EXPECT_OK(mdsm_init(half, NULL));
    MT_EXPECT_EQ(mdsm_rank(), hrank);
    MT_EXPECT_EQ(mdsm_nranks(), hsize);
    MT_EXPECT_OK(mdsm_finalize());
    MPI_Comm_free(&half);
}

/* One rank's bad environment fails init on every rank; nobody is left initialised. */
MT_TEST(init, local_failure_is_agreed_by_all_ranks)
{
    int culprit = mt_nranks() - 1;
    if (mt_rank() == culprit)
        setenv("MDSM_NUM_LOCKS", "lots", 1);
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    unsetenv("MDSM_NUM_LOCKS");
    MT_EXPECT_EQ(rc, mt_rank() == culprit ? MDSM_ERR_CONFIG : MDSM_ERR_REMOTE);
    MT_EXPECT_EQ(mdsm_initialized(), 0);
    /* And the next init works everywhere. */
    MT_EXPECT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    MT_EXPECT_OK(mdsm_finalize());
}

MT_TEST(init, every_status_has_its_own_message)
{
    const char *unknown = mdsm_strerror(12345);
    MT_EXPECT(strstr(unknown, "unknown") != NULL);
    for (int a = MDSM_OK; a >= MDSM_ERR_CONCURRENT; a--) {
        MT_EXPECT(strcmp(mdsm_strerror(a), unknown) != 0);
        for (int b = a - 1; b >= MDSM_ERR_CONCURRENT; b--)
            MT_EXPECT(strcmp(mdsm_strerror(a), mdsm_strerror(b)) != 0);
    }
    MT_EXPECT(strcmp(mdsm_strerror(1), unknown) == 0);
}
