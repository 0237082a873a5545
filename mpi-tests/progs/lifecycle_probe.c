/* A plain MPI program (no harness) for what the harness cannot show, because
 * it initialises MPI itself:
 *   lifecycle_probe owns-mpi       mdsm_init initialises MPI; mdsm_finalize finalises it
 *   lifecycle_probe plain          caller's plain MPI_Init: init succeeds, ranks see each
 *                                  other's writes, atomics add up; rank 0 prints mdsm_info
 *   lifecycle_probe funneled       caller's MPI at FUNNELED: init succeeds, unless
 *                                  MDSM_PROGRESS=thread, when it fails with THREAD_LEVEL
 *   lifecycle_probe funneled-thread  the same with MDSM_PROGRESS=off: a second thread's
 *                                  calls that need MPI fail with THREAD_LEVEL, getters work
 *   lifecycle_probe funneled-thread-fault  and its fault on a remote page (node sharing
 *                                  off) ends the process, saying why
 * Prints "probe ok" on rank 0 and exits 0 when every expectation holds. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mdsm.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "lifecycle_probe: %s:%d: expected %s\n", __FILE__, __LINE__, #cond);   \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static int owns_mpi(void)
{
    int flag = 1;
    MPI_Initialized(&flag);
    CHECK(!flag);
    CHECK(mdsm_init(MPI_COMM_WORLD, NULL) == MDSM_OK);
    MPI_Initialized(&flag);
    CHECK(flag);
    int provided = 0;
    MPI_Query_thread(&provided);
    CHECK(provided == MPI_THREAD_MULTIPLE);
    int rank = mdsm_rank();
    CHECK(mdsm_finalize() == MDSM_OK);
    MPI_Finalized(&flag);
    CHECK(flag);
    /* MPI cannot come back: a second init reports it instead of crashing. */
    CHECK(mdsm_init(MPI_COMM_WORLD, NULL) == MDSM_ERR_MPI);
    return rank;
}

static int funneled(void)
{
    int provided = 0;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    CHECK(provided >= MPI_THREAD_FUNNELED);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const char *progress = getenv("MDSM_PROGRESS");
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    if (provided < MPI_THREAD_MULTIPLE && progress && strcmp(progress, "thread") == 0) {
        CHECK(rc == MDSM_ERR_THREAD_LEVEL);
        CHECK(strstr(mdsm_last_error_message(), "MPI_THREAD_MULTIPLE") != NULL);
        CHECK(!mdsm_initialized());
    } else {
        CHECK(rc == MDSM_OK);
        CHECK(mdsm_finalize() == MDSM_OK);
    }
    MPI_Finalize();
    return rank;
}

/* Plain MPI_Init: each rank writes its own page, then reads every other's
 * after a barrier, and adds to one counter; rank 0 prints what mdsm decided. */
static int plain(void)
{
    MPI_Init(NULL, NULL);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    CHECK(mdsm_init(MPI_COMM_WORLD, NULL) == MDSM_OK);
    long page = mdsm_page_size();
    int n = mdsm_nranks();
    char *mem = mdsm_alloc((size_t)page * (size_t)(n + 1));
    CHECK(mem != NULL);
    int64_t *counter = (int64_t *)(mem + (size_t)page * (size_t)n);
    for (int i = 0; i < 3; i++)
        CHECK(mdsm_fetch_add(counter, rank + 1, NULL) == MDSM_OK);
    mem[(size_t)page * (size_t)rank] = (char)(0x40 + rank);
    CHECK(mdsm_barrier() == MDSM_OK);
    for (int r = 0; r < n; r++)
        CHECK(mem[(size_t)page * (size_t)r] == (char)(0x40 + r));
    int64_t total = 0;
    CHECK(mdsm_fetch_add(counter, 0, &total) == MDSM_OK);
    CHECK(total == 3 * (int64_t)n * (n + 1) / 2);
    if (rank == 0)
        CHECK(mdsm_info_print(stdout) == MDSM_OK);
    CHECK(mdsm_barrier() == MDSM_OK);
    CHECK(mdsm_free(mem) == MDSM_OK);
    CHECK(mdsm_finalize() == MDSM_OK);
    MPI_Finalize();
    return rank;
}

static void *second_thread_calls(void *arg)
{
    (void)arg;
    CHECK(mdsm_rank() >= 0); /* local getters need no MPI */
    CHECK(mdsm_lock(0) == MDSM_ERR_THREAD_LEVEL);
    CHECK(strstr(mdsm_last_error_message(), "MPI_THREAD_MULTIPLE") != NULL);
    CHECK(mdsm_release() == MDSM_ERR_THREAD_LEVEL);
    CHECK(mdsm_acquire() == MDSM_ERR_THREAD_LEVEL);
    CHECK(mdsm_barrier() == MDSM_ERR_THREAD_LEVEL);
    return NULL;
}

static volatile long sink;

static void *second_thread_faults(void *arg)
{
    sink = *(volatile long *)arg; /* a page homed on another rank: needs a fetch */
    fprintf(stderr, "lifecycle_probe: not reached\n");
    return NULL;
}

static int funneled_thread(int fault)
{
    int provided = 0;
    MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    CHECK(mdsm_init(MPI_COMM_WORLD, NULL) == MDSM_OK);
    long page = mdsm_page_size();
    int n = mdsm_nranks();
    char *mem = mdsm_alloc((size_t)page * (size_t)n);
    CHECK(mem != NULL);
    pthread_t t;
    if (provided < MPI_THREAD_MULTIPLE) {
        char *remote = mem + (size_t)page * (size_t)((rank + 1) % n);
        CHECK(mdsm_home_of(remote) != rank);
        CHECK(pthread_create(&t, NULL,
                             fault && rank == 0 ? second_thread_faults : second_thread_calls,
                             remote) == 0);
        pthread_join(t, NULL);
    }
    CHECK(mdsm_barrier() == MDSM_OK);
    CHECK(mdsm_free(mem) == MDSM_OK);
    CHECK(mdsm_finalize() == MDSM_OK);
    MPI_Finalize();
    return rank;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: lifecycle_probe owns-mpi|plain|funneled|funneled-thread[-fault]\n");
        return 2;
    }
    int rank;
    if (strcmp(argv[1], "owns-mpi") == 0)
        rank = owns_mpi();
    else if (strcmp(argv[1], "plain") == 0)
        rank = plain();
    else if (strcmp(argv[1], "funneled") == 0)
        rank = funneled();
    else if (strcmp(argv[1], "funneled-thread") == 0)
        rank = funneled_thread(0);
    else if (strcmp(argv[1], "funneled-thread-fault") == 0)
        rank = funneled_thread(1);
    else
        return 2;
    if (rank == 0)
        printf("probe ok\n");
    return 0;
}
