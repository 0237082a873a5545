/* The harness's own tests that must pass. The deliberate failures that must
 * fail are in harness_xfail.c, run through expect-failure checks. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

MT_TEST(harness, ranks_see_each_other)
{
    int sum = 0, rank = mt_rank();
    MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MT_EXPECT_EQ(sum, mt_nranks() * (mt_nranks() - 1) / 2);
}

MT_TEST(harness, failure_message_names_rank_file_line_and_values)
{
    const char *msg = NULL;
    int seven = 7;
    mt_capture_begin();
    int line = __LINE__ + 1;
    MT_EXPECT_EQ(seven, 8);
    MT_EXPECT(seven == 9);
    MT_EXPECT_RC(MDSM_ERR_LOCK_ID, MDSM_OK);
    int n = mt_capture_end(&msg);
    MT_EXPECT_EQ(n, 3);
    char want[256];
    snprintf(want, sizeof(want),
             "[rank %d] harness_selftest.c:%d: expected seven == 8, saw 7 and 8", mt_rank(), line);
    MT_EXPECT(strcmp(msg, want) == 0);
}

static int reached_after_assert;

static void body_with_failing_assert(void)
{
    MT_ASSERT(mt_rank() < 0);
    reached_after_assert = 1;
}

MT_TEST(harness, assert_returns_from_the_body)
{
    reached_after_assert = 0;
    mt_capture_begin();
    body_with_failing_assert();
    MT_EXPECT_EQ(mt_capture_end(NULL), 1);
    MT_EXPECT_EQ(reached_after_assert, 0);
}

MT_TEST(harness, stderr_capture_sees_output)
{
    mt_stderr_begin();
    fprintf(stderr, "hello from rank %d\n", mt_rank());
    char *text = mt_stderr_end();
    char want[64];
    snprintf(want, sizeof(want), "hello from rank %d\n", mt_rank());
    MT_EXPECT(strcmp(text, want) == 0);
    free(text);
}

MT_MDSM_TEST(harness, mdsm_tests_run_initialised)
{
    MT_EXPECT_EQ(mdsm_initialized(), 1);
    MT_EXPECT_EQ(mdsm_rank(), mt_rank());
}

/* Failures recorded from many threads at once are all counted, and name the
 * thread (here pthreads: by kernel id; OpenMP threads by their number, see
 * harness_xfail_threads.c). */
enum { CAP_THREADS = 8, CAP_EACH = 500 };

static void *fail_repeatedly(void *arg)
{
    (void)arg;
    for (int k = 0; k < CAP_EACH; k++)
        MT_EXPECT_EQ(k, -1);
    return NULL;
}

MT_TEST(harness, failures_from_threads_are_all_recorded)
{
    pthread_t th[CAP_THREADS];
    int started = 0;
    mt_capture_begin();
    for (int i = 0; i < CAP_THREADS; i++)
        started += pthread_create(&th[i], NULL, fail_repeatedly, NULL) == 0;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    const char *msg = NULL;
    int n = mt_capture_end(&msg);
    MT_EXPECT_EQ(started, CAP_THREADS);
    MT_EXPECT_EQ(n, started * CAP_EACH);
    char want[64];
    snprintf(want, sizeof(want), "[rank %d, thread tid ", mt_rank());
    if (!msg || strncmp(msg, want, strlen(want)) != 0)
        mt_fail(__FILE__, __LINE__, "the first captured failure is '%s', expected it to start '%s'",
                msg ? msg : "(null)", want);
}
