# Sourced by the scripts: settings for running Open MPI jobs here.
# Open MPI refuses root without these two; they are harmless otherwise.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# More ranks than cores is normal on small machines and CI.
export OMPI_MCA_rmaps_base_oversubscribe=1
JOBS=$(nproc 2>/dev/null || echo 2)
