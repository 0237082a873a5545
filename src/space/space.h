/* The global address space: one virtual range at the same address on every
 * rank, carved into collective allocations whose pages each have a home rank.
 * A rank's home pages live in a memfd ("the arena") that is both the RMA
 * window's memory and, mapped at the global addresses, used in place. */
#ifndef MDSM_SPACE_SPACE_H
#define MDSM_SPACE_SPACE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "space/extent.h"

struct space_page {
    int32_t home;       /* home rank; meaningful only while alloc != 0 */
    uint32_t alloc;     /* index + 1 of the owning allocation; 0 when free */
    uint64_t home_disp; /* byte offset of the home copy in the home's arena */
};

struct space_alloc {
    uint64_t start, npages; /* global pages */
    uint64_t home_start;    /* arena page where each rank's share begins */
    uint64_t home_pages;    /* arena pages taken on every rank */
    int live;
};

struct space {
    char *base;
    size_t size, page_size;
    unsigned page_shift;
    uint64_t npages;
    int rank, nranks, distribution;
    int memfd;
    char *arena; /* this rank's home copies, the RMA window's memory */
    size_t arena_size;
    struct space_page *pages;
    struct extent_pool va, home;
    struct space_alloc *allocs;
    size_t nallocs, cap_allocs;
};

extern struct space mdsm_space;

/* The range of the last session, kept reserved and inaccessible after
 * mdsm_finalize so that a stale access is recognised; NULL base if none. */
struct space_former {
    char *base;
    size_t size;
};
extern struct space_former mdsm_space_former;

/* Collective: reserves the range at one address agreed by all ranks. */
int space_init(const struct mdsm_settings *s, MPI_Comm comm, int rank, int nranks);
void space_fini(void);

/* space_fini for mdsm_finalize: the range stays reserved as mdsm_space_former
 * (until the next space_init), so that the fault handler can name a stale access. */
void space_retire(void);

/* In a child forked during a session: makes the range and the arena
 * inaccessible, so that the child can never write the parent's home pages
 * (a MAP_SHARED memfd). Only system calls: safe in a pthread_atfork child handler. */
void space_forget_in_child(void);

/* 0 when part of [addr, addr+len) is not mapped at all (the application
 * unmapped it); 1 otherwise. For error paths only. */
int space_range_mapped(const void *addr, size_t len);

/* Local part of a collective allocation of npages: picks the range (the same
 * on every rank), records homes and maps this rank's home pages read-only.
 * Returns the allocation index, or a negative status. */
int space_alloc(uint64_t npages, uint64_t *start);

/* Finds the live allocation starting exactly at page start; -1 if none. */
int space_find_alloc(uint64_t start);

/* Unmaps allocation idx, zeroes this rank's home share and frees the ranges. */
int space_free(int idx);

static inline int space_contains(const void *addr)
{
    return (const char *)addr >= mdsm_space.base &&
           (const char *)addr < mdsm_space.base + mdsm_space.size;
}

static inline int space_former_contains(const void *addr)
{
    return (const char *)addr >= mdsm_space_former.base &&
           (const char *)addr < mdsm_space_former.base + mdsm_space_former.size;
}

static inline uint64_t space_page_of(const void *addr)
{
    return (uint64_t)((const char *)addr - mdsm_space.base) >> mdsm_space.page_shift;
}

static inline char *space_page_addr(uint64_t page)
{
    return mdsm_space.base + (page << mdsm_space.page_shift);
}

#endif
