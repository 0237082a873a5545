/* libmdsm loaded with dlopen, one session, then dlclose: the SIGSEGV handler
 * in place must be the one from before mdsm_init, not mdsm's retired handler
 * left pointing into the unloaded library. Prints "probe ok" when it holds.
 *   dlclose_probe <path to libmdsm.so> */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "mdsm.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "dlclose_probe: %s:%d: expected %s\n", __FILE__, __LINE__, #cond);     \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: dlclose_probe <libmdsm.so>\n");
        return 2;
    }
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    struct sigaction before, during, after;
    CHECK(sigaction(SIGSEGV, NULL, &before) == 0);
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    CHECK(lib != NULL);
    int (*init)(MPI_Comm, const mdsm_config_t *) =
        (int (*)(MPI_Comm, const mdsm_config_t *))dlsym(lib, "mdsm_init");
    int (*finalize)(void) = (int (*)(void))dlsym(lib, "mdsm_finalize");
    CHECK(init && finalize);
    CHECK(init(MPI_COMM_WORLD, NULL) == MDSM_OK);
    CHECK(finalize() == MDSM_OK);
    CHECK(sigaction(SIGSEGV, NULL, &during) == 0);
    CHECK(during.sa_sigaction != before.sa_sigaction); /* retired, still mdsm's */
    CHECK(dlclose(lib) == 0);
    CHECK(sigaction(SIGSEGV, NULL, &after) == 0);
    CHECK(after.sa_sigaction == before.sa_sigaction && after.sa_flags == before.sa_flags);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Finalize();
    if (rank == 0)
        printf("probe ok\n");
    return 0;
}
