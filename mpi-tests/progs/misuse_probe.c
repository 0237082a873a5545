/* Misuse of mdsm memory that ends the process, each of which must be named in
 * one line before the crash (run by mdsm_add_check, expecting failure):
 *   misuse_probe after-finalize     a load of former global memory after mdsm_finalize
 * Prints "probe: not reached" if the process survives the misuse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: misuse_probe after-finalize\n");
        return 2;
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    int v;
    if (strcmp(argv[1], "after-finalize") == 0)
        v = after_finalize();
    else
        return 2;
    printf("probe: not reached (%d)\n", v);
    MPI_Finalize();
    return 0;
}
