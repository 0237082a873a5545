#include "sync/meta.h"

struct meta_layout mdsm_meta;
char *mdsm_meta_base;

static size_t align8(size_t x)
{
    return (x + 7) & ~(size_t)7;
}

void meta_layout_compute(int nranks, int num_locks)
{
    struct meta_layout *m = &mdsm_meta;
    size_t homed = (size_t)(num_locks + nranks - 1) / (size_t)nranks;
    m->nranks = nranks;
    m->num_locks = num_locks;
    m->head = 0;
    m->written = 8;
    m->epoch = 16;
    m->stripes = 24;
    m->probe = align8(m->stripes + META_STRIPES * sizeof(int32_t));
    m->tails = m->probe + 2 * sizeof(int32_t);
    m->vcs = align8(m->tails + homed * sizeof(int32_t));
    m->stamps = align8(m->vcs + homed * META_VC_WORDS(nranks) * 8);
    m->log = m->stamps + META_REGIONS * sizeof(uint64_t);
    m->size = align8(m->log + META_LOG_CAP * sizeof(uint32_t));
}
