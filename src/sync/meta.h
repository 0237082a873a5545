/* Layout of each rank's meta window: the coherence and lock state that other
 * ranks read and update with RMA. Identical on every rank. */
#ifndef MDSM_SYNC_META_H
#define MDSM_SYNC_META_H

#include <stddef.h>
#include <stdint.h>

#define META_STRIPES 64     /* int32 locks for emulated 64-bit atomics */
#define META_LOG_CAP 65536u /* write notices kept per rank (a ring) */
#define META_REGIONS 4096u  /* runs of the space stamped by their latest notice */
/* A vector as notice_vector_encode writes it: at most 2 + nranks words. */
#define META_VC_WORDS(nranks) ((size_t)(nranks) + 2)

struct meta_layout {
    size_t head;    /* uint64: notices this rank has published */
    size_t written; /* uint64: ring slots written so far (published or not) */
    size_t epoch;   /* uint64, used on rank 0: releases outside barriers that published */
    size_t stripes; /* int32[META_STRIPES] */
    size_t probe;   /* int32[2]: the progress probe at init (rma/passive.h) */
    size_t tails;   /* int32[locks homed here]: MCS queue tail (see sync/lock.c) */
    size_t vcs;     /* uint64[locks homed here][META_VC_WORDS]: the last releaser's vector */
    size_t stamps;  /* uint64[META_REGIONS]: 1 + index of the latest notice naming a page there */
    size_t log;     /* uint32[META_LOG_CAP]: pages written, in order */
    size_t size;
    int nranks, num_locks;
};

extern struct meta_layout mdsm_meta;
extern char *mdsm_meta_base; /* this rank's meta window memory */

void meta_layout_compute(int nranks, int num_locks);

/* Lock id L is homed on rank L % nranks, at slot L / nranks there. */
static inline int meta_lock_home(int id)
{
    return id % mdsm_meta.nranks;
}

static inline size_t meta_tail(int id)
{
    return mdsm_meta.tails + (size_t)(id / mdsm_meta.nranks) * sizeof(int32_t);
}

static inline size_t meta_vc(int id)
{
    return mdsm_meta.vcs + (size_t)(id / mdsm_meta.nranks) * META_VC_WORDS(mdsm_meta.nranks) * 8;
}

static inline int32_t *meta_local32(size_t off)
{
    return (int32_t *)(mdsm_meta_base + off);
}

#endif
