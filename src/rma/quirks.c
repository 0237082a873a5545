#include "rma/quirks.h"

#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"

enum vendor { VENDOR_OTHER, VENDOR_OPENMPI, VENDOR_MPICH };

struct mpi_library {
    enum vendor vendor;
    int major, minor, patch;
};

struct quirk {
    const char *name, *bug, *remedy, *detect;
    int (*applies)(const struct mpi_library *);
};

static int version_below(const struct mpi_library *l, int major, int minor, int patch)
{
    if (l->major != major)
        return l->major < major;
    if (l->minor != minor)
        return l->minor < minor;
    return l->patch < patch;
}

static int openmpi_before_4_1_5(const struct mpi_library *l)
{
    return l->vendor == VENDOR_OPENMPI && version_below(l, 4, 1, 5);
}

static int openmpi(const struct mpi_library *l)
{
    return l->vendor == VENDOR_OPENMPI;
}

static int openmpi_4(const struct mpi_library *l)
{
    return l->vendor == VENDOR_OPENMPI && l->major == 4;
}

static int mpich(const struct mpi_library *l)
{
    return l->vendor == VENDOR_MPICH;
}

static const struct quirk table[QUIRK_COUNT] = {
    [QUIRK_ATOMICS64_EMULATED] = {"atomics64_emulated",
                                  "64-bit MPI_Compare_and_swap crashes under osc rdma "
                                  "(ompi#7027, ompi#11349)",
                                  "64-bit atomics run under 32-bit stripe locks at the home",
                                  "Open MPI older than 4.1.5", openmpi_before_4_1_5},
    [QUIRK_SOLO_WITHOUT_WINDOW] = {"solo_without_window",
                                   "MPI_Win_create fails on a 1-rank communicator (no osc "
                                   "component serves it with Debian's MCA settings)",
                                   "a rank alone uses its home pages directly, without a window",
                                   "Open MPI, any version", openmpi},
    [QUIRK_WINDOW_RETRY] = {"window_create_retry",
                            "window creation fails when disjoint communicators on one node "
                            "create windows at the same moment",
                            "the ranks agree on each attempt and retry up to 5 times",
                            "Open MPI 4.x", openmpi_4},
    [QUIRK_WIN_ALLOCATE_PAD] = {"win_allocate_pad",
                                "MPI_Win_allocate over shared memory: when the size is not a "
                                "multiple of 16, other ranks' RMA lands size%16 bytes away from "
                                "the base the owner gets back",
                                "window sizes are rounded up to a multiple of 64 bytes",
                                "MPICH, any version; seen in 4.0.2", mpich},
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int active[QUIRK_COUNT];

/* MPI_Get_library_version may be called before MPI_Init and after MPI_Finalize. */
static void detect(void)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    struct mpi_library l = {VENDOR_OTHER, 0, 0, 0};
    const char *p = strstr(v, "Open MPI v");
    if (p && sscanf(p, "Open MPI v%d.%d.%d", &l.major, &l.minor, &l.patch) >= 2)
        l.vendor = VENDOR_OPENMPI;
    else if (!strncmp(v, "MPICH Version:", 14) &&
             sscanf(v + 14, "%d.%d.%d", &l.major, &l.minor, &l.patch) >= 2)
        l.vendor = VENDOR_MPICH;
    for (int q = 0; q < QUIRK_COUNT; q++)
        active[q] = table[q].applies(&l);
}

int quirk_active(enum rma_quirk q)
{
    pthread_once(&once, detect);
    return active[q];
}

void quirks_info_print(FILE *out)
{
    const char *sep = "";
    fputs("mpi workarounds: ", out);
    for (int q = 0; q < QUIRK_COUNT; q++) {
        if (quirk_active((enum rma_quirk)q)) {
            fprintf(out, "%s%s", sep, table[q].name);
            sep = ", ";
        }
    }
    fprintf(out, "%s\n", *sep ? "" : "none");
}

int mdsm_workaround_count(void)
{
    return QUIRK_COUNT;
}

int mdsm_workaround(int index, mdsm_workaround_t *out)
{
    if (index < 0 || index >= QUIRK_COUNT)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_workaround: index %d is outside 0..%d", index,
                         QUIRK_COUNT - 1);
    if (!out)
        return mdsm_fail(MDSM_ERR_INVALID_ARG, "mdsm_workaround: out is NULL");
    const struct quirk *q = &table[index];
    *out = (mdsm_workaround_t){q->name, q->bug, q->remedy, q->detect,
                               quirk_active((enum rma_quirk)index)};
    return MDSM_OK;
}
