/* Deliberate failures on threads other than the main one: the report must
 * carry every rank's failures and name the thread of each ("[rank N, thread
 * T]", the OpenMP thread number; "[rank N, thread tid T]" for other threads),
 * and recording them from many threads at once must not corrupt the report. */
#include <omp.h>
#include <pthread.h>

#include "mt.h"

/* Only the last rank fails, on every thread of a team, many times each, all
 * at once. */
MT_TEST(xfail, omp_threads_fail)
{
    omp_set_dynamic(0);
    int failing = mt_rank() == mt_nranks() - 1;
#pragma omp parallel num_threads(4)
    {
        int t = omp_get_thread_num();
        for (int k = 0; failing && k < 50; k++)
            MT_EXPECT_EQ(t, -1);
    }
}

static void *fail_once(void *arg)
{
    (void)arg;
    MT_EXPECT_EQ(mt_rank(), -1);
    return NULL;
}

/* Only the last rank fails, on a pthread of its own. */
MT_TEST(xfail, pthread_fails)
{
    if (mt_rank() != mt_nranks() - 1)
        return;
    pthread_t th;
    MT_ASSERT(pthread_create(&th, NULL, fail_once, NULL) == 0);
    pthread_join(th, NULL);
}
