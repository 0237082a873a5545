/* mdsm-info: prints the version, build features and every MDSM_* variable with
 * its resolved value and where that value came from. With --runtime it starts
 * mdsm (alone, or on every rank under mpirun/srun) and prints each rank's
 * runtime decisions in rank order. */
#include <stdio.h>
#include <string.h>

#include "mdsm.h"

static const char *source_name(mdsm_config_source_t s)
{
    switch (s) {
    case MDSM_CONFIG_SOURCE_DEFAULT: return "default";
    case MDSM_CONFIG_SOURCE_ENV: return "environment";
    case MDSM_CONFIG_SOURCE_API: return "api";
    }
    return "?";
}

static void usage(FILE *f)
{
    fprintf(f, "usage: mdsm-info [-c|--config] [-r|--runtime] [-h|--help]\n"
               "  -c  print only the configuration table, one variable per line\n"
               "  -r  start mdsm and print every rank's runtime decisions\n");
}

/* The MPI workarounds: one summary line of the active ones, then each known
 * one with its decision. */
static void print_workarounds(void)
{
    mdsm_workaround_t w;
    const char *sep = "";
    printf("# MPI workarounds: ");
    for (int i = 0; i < mdsm_workaround_count(); i++) {
        if (mdsm_workaround(i, &w) == MDSM_OK && w.active) {
            printf("%s%s", sep, w.name);
            sep = ", ";
        }
    }
    printf("%s\n", *sep ? "" : "none");
    for (int i = 0; i < mdsm_workaround_count(); i++) {
        if (mdsm_workaround(i, &w) == MDSM_OK)
            printf("#   %-20s %-3s applies to %s\n#       bug: %s\n#       remedy: %s\n", w.name,
                   w.active ? "on" : "off", w.detect, w.bug, w.remedy);
    }
}

/* Each rank prints its report in turn, so the output reads in rank order. */
static int print_runtime(void)
{
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    if (rc != MDSM_OK) {
        fprintf(stderr, "mdsm-info: mdsm_init: %s\n", mdsm_last_error_message());
        return 1;
    }
    for (int r = 0; r < mdsm_nranks(); r++) {
        if (r == mdsm_rank()) {
            printf("# rank %d\n", r);
            mdsm_info_print(stdout);
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    return mdsm_finalize() == MDSM_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    int config_only = 0, runtime = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
            config_only = 1;
        } else if (!strcmp(argv[i], "-r") || !strcmp(argv[i], "--runtime")) {
            runtime = 1;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "mdsm-info: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (runtime)
        return print_runtime();
    if (!config_only) {
        char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
        int len = 0;
        MPI_Get_library_version(mpi_version, &len);
        char *nl = strchr(mpi_version, '\n');
        if (nl)
            *nl = '\0';
        printf("# mdsm %s\n", MDSM_VERSION_STRING);
        printf("# build type: %s\n", MDSM_BUILD_TYPE);
        printf("# MPI: %s (MPI %d.%d)\n", mpi_version, MPI_VERSION, MPI_SUBVERSION);
        printf("# hwloc: %s\n", MDSM_HWLOC_VERSION);
        printf("# PAPI: %s (software-defined events)\n", MDSM_PAPI_VERSION);
        print_workarounds();
        printf("#\n# %-24s %-10s %-12s %s\n", "variable", "value", "source", "description");
    }
    mdsm_config_warn_unknown();
    int status = 0;
    for (int i = 0; i < mdsm_config_num_vars(); i++) {
        mdsm_config_var_t v;
        int rc = mdsm_config_var(i, &v);
        if (rc != MDSM_OK) {
            fprintf(stderr, "mdsm-info: %s\n", mdsm_last_error_message());
            status = 1;
            continue;
        }
        printf("%-26s %-10s %-12s %s\n", v.name, v.value, source_name(v.source), v.doc);
        if (!config_only)
            printf("%-26s   default %s; accepted: %s\n", "", v.default_value, v.form);
    }
    return status;
}
