/* Misuse of mdsm memory that ends the process, each of which must be named in
 * one line before the crash (run by mdsm_add_check, expecting failure):
 *   misuse_probe after-finalize     a load of former global memory after mdsm_finalize
 *   misuse_probe munmap-touch       rank 0 unmaps a cached page homed on rank 1, then reads it
 *   misuse_probe munmap-release     rank 0 unmaps a home page rank 1 cached and rank 0
 *                                   wrote, then releases
 * Prints "probe: not reached" if the process survives the misuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mdsm.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "misuse_probe: %s:%d: expected %s\n", __FILE__, __LINE__, #cond);      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Two pages per rank, block-distributed: rank r homes pages 2r and 2r+1. */
static volatile int *setup(long *ps)
{
    CHECK(mdsm_init(MPI_COMM_WORLD, NULL) == MDSM_OK);
    *ps = mdsm_page_size();
    volatile int *p = mdsm_alloc(2 * (size_t)mdsm_nranks() * (size_t)*ps);
    CHECK(p != NULL);
    p[(size_t)mdsm_rank() * 2 * (size_t)*ps / sizeof(int)] = 7;
    CHECK(mdsm_barrier() == MDSM_OK);
    return p;
}

static int after_finalize(void)
{
    long ps;
    volatile int *p = setup(&ps);
    CHECK(mdsm_finalize() == MDSM_OK);
    fflush(stdout);
    return p[0];
}

static int munmap_touch(void)
{
    long ps;
    volatile int *p = setup(&ps);
    CHECK(mdsm_nranks() >= 2);
    volatile int *remote = p + 2 * ps / (long)sizeof(int); /* homed on rank 1 */
    CHECK(mdsm_home_of((const void *)remote) == 1);
    int v = 0;
    if (mdsm_rank() == 0) {
        v = *remote; /* now cached here */
        CHECK(munmap((void *)remote, (size_t)ps) == 0);
        v += *remote;
    }
    CHECK(mdsm_barrier() == MDSM_OK);
    return v;
}

static int munmap_release(void)
{
    long ps;
    volatile int *p = setup(&ps);
    CHECK(mdsm_nranks() >= 2);
    int v = 0;
    if (mdsm_rank() == 1)
        v = p[0]; /* cached elsewhere: rank 0's writes to its home page are tracked from now */
    CHECK(mdsm_barrier() == MDSM_OK);
    if (mdsm_rank() == 0) {
        p[0] = 8; /* a home page written this interval */
        CHECK(munmap((void *)p, (size_t)ps) == 0);
    }
    CHECK(mdsm_barrier() == MDSM_OK);
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: misuse_probe after-finalize|munmap-touch|munmap-release\n");
        return 2;
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    int v;
    if (strcmp(argv[1], "after-finalize") == 0)
        v = after_finalize();
    else if (strcmp(argv[1], "munmap-touch") == 0)
        v = munmap_touch();
    else if (strcmp(argv[1], "munmap-release") == 0)
        v = munmap_release();
    else
        return 2;
    printf("probe: not reached (%d)\n", v);
    MPI_Finalize();
    return 0;
}
