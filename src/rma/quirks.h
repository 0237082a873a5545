/* MPI workarounds: known bugs of MPI libraries on mdsm's one-sided path. Each
 * is decided once from MPI_Get_library_version (callable before MPI_Init),
 * applied by rma.c, and reported by mdsm_workaround() and mdsm_info_print. */
#ifndef MDSM_RMA_QUIRKS_H
#define MDSM_RMA_QUIRKS_H

#include <stdio.h>

enum rma_quirk {
    QUIRK_ATOMICS64_EMULATED,  /* 64-bit atomics under 32-bit stripe locks */
    QUIRK_SOLO_WITHOUT_WINDOW, /* one rank: home pages used directly, no window */
    QUIRK_WINDOW_RETRY,        /* window creation retried when it fails collectively */
    QUIRK_WIN_ALLOCATE_PAD,    /* MPI_Win_allocate sizes rounded up to 64 bytes */
    QUIRK_COUNT
};

/* Non-zero when workaround q applies to the MPI library in use. */
int quirk_active(enum rma_quirk q);

/* Writes "mpi workarounds: <active names, comma-separated, or none>\n". */
void quirks_info_print(FILE *out);

#endif
