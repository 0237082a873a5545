/* The global address space: one virtual range at the same address on every
 * rank, carved into collective allocations whose pages each have a home rank.
 *
 * Memory is file-backed at identity offsets: page p lives at offset p * page
 * size of a memfd, so that neighbouring pages of one file merge into one
 * kernel mapping whatever their homes.
 *  - own file: this rank's cached copies of remote pages (and its home pages
 *    when it shares with nobody);
 *  - node file: the home pages of every rank of the node (MDSM_NODE_SHARING=on),
 *    created by the node's lowest rank and opened by the others, so that a page
 *    homed on the node is read and written in place.
 * Each file also has a permanent read-write view: the home view is the RMA
 * window's memory; the cache view is where fetches land and diffs are read
 * from, so that a fault needs one protection change at the global address.
 *
 * After the pages, each file holds one sharer byte per page (at offset size,
 * in the home window): a rank sets the byte at a page's home, with an MPI
 * accumulate, before it first fetches the page. A home page whose byte is
 * clear has no copy on another node, so its writes need no protection fault
 * and no notice. A byte, not a bit: the ranks of a node reach the same node
 * file through different windows, where MPI cannot keep a read-modify-write
 * of a shared word atomic (over TCP it is a get and a put). */
#ifndef MDSM_SPACE_SPACE_H
#define MDSM_SPACE_SPACE_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "space/extent.h"

/* A live allocation: where it lies and how its pages are homed. A page's
 * home is computed from it (space_rec_home), so that no rank keeps a table
 * over every allocated page. */
struct space_rec {
    uint64_t start, npages; /* global pages */
    uint64_t chunk;         /* pages per share: ceil(npages / nranks) */
    int64_t first;          /* home of the first share (small allocations rotate it) */
};

struct space {
    char *base;
    size_t size, page_size;
    size_t view_size; /* size + the sharer bytes + the probe's scratch: each file and view */
    unsigned page_shift;
    uint64_t npages;
    int rank, nranks, distribution;
    int small_first;  /* home of the first page of the next allocation of < nranks pages */
    int own_fd;       /* cached copies; also the home pages when not sharing */
    int node_fd;      /* home pages of the node's ranks; == own_fd when not sharing */
    char *cache_view; /* read-write view of own_fd */
    char *arena;      /* read-write view of node_fd (== cache_view when not sharing): the window */
    size_t arena_size;
    int sharing;            /* node_fd is the node's file, other than own_fd */
    int sharing_wanted;     /* MDSM_NODE_SHARING=on */
    int sharing_failed;     /* wanted, but the node file could not be shared */
    int node_nranks;        /* ranks whose home pages are used in place here (1 if not sharing) */
    int node_leader;        /* lowest rank of the node: it gives freed node pages back */
    int untracked;          /* all ranks share one node: home pages open, writes not noticed */
    uint8_t *shares;        /* per rank: its home pages are used in place here */
    char sharing_note[192]; /* why sharing is off, when it was wanted */
    struct extent_pool va;
    /* The live allocations sorted by start. Any thread looks pages up
     * (space_lookup: faults, mdsm_home_of) while the one thread of the rank in
     * mdsm_alloc or mdsm_free changes them: recs_seq is odd during a change
     * and readers retry, and an array replaced to grow stays allocated until
     * space_fini, so that a reader never reads freed memory. */
    struct space_rec *recs;
    size_t nrecs, cap_recs;
    uint64_t recs_seq;
    struct space_rec **retired;
    size_t nretired;
};

extern struct space mdsm_space;

/* The range of the last session, kept reserved and inaccessible after
 * mdsm_finalize so that a stale access is recognised; NULL base if none. */
struct space_former {
    char *base;
    size_t size;
};
extern struct space_former mdsm_space_former;

/* Collective: reserves the range at one address agreed by all ranks and, with
 * MDSM_NODE_SHARING=on, shares the node file over the node's ranks (falling
 * back to sharing nothing, with a warning, where the OS refuses). */
int space_init(const struct mdsm_settings *s, MPI_Comm comm, int rank, int nranks);
void space_fini(void);

/* space_fini for mdsm_finalize: the range stays reserved as mdsm_space_former
 * (until the next space_init), so that the fault handler can name a stale access. */
void space_retire(void);

/* In a child forked during a session: makes the range and both views
 * inaccessible, so that the child can never write the parent's home pages
 * (shared files). Only system calls: safe in a pthread_atfork child handler. */
void space_forget_in_child(void);

/* 0 when part of [addr, addr+len) is not mapped at all (the application
 * unmapped it); 1 otherwise. For error paths only. */
int space_range_mapped(const void *addr, size_t len);

/* Local part of a collective allocation of npages: picks the range (the same
 * on every rank) and records its homes; maps nothing yet (space_map_homes).
 * O(log allocations): no work per page. MDSM_OK, MDSM_ERR_OUT_OF_SPACE or
 * MDSM_ERR_NO_MEMORY. */
int space_alloc(uint64_t npages, uint64_t *start);
/* Every rank's space_alloc of npages succeeded: the next small allocation
 * starts after this one (called on every rank, or on none). */
void space_alloc_agreed(uint64_t npages);

/* Maps the allocation's pages homed on this node from the node file,
 * read-only so that the first write of an interval is noticed (read-write
 * when untracked, and this rank's own home pages, which nobody caches yet); with lazy,
 * inaccessible instead (the cache maps each at its first access), which needs
 * no mapping of its own where the node file is the own file. Works per run of
 * pages with one home: O(ranks) for block distribution. */
int space_map_homes(uint64_t start, int lazy);

/* 1 and the allocation holding page in *r; 0 when no live allocation holds
 * it. Any thread, lock-free: O(log allocations). */
int space_lookup(uint64_t page, struct space_rec *r);

/* Unmaps the allocation starting at page start, gives its memory back
 * (cached copies; home pages by the node's leader) and frees the range. The
 * ranks must have synchronised. MDSM_ERR_NOT_ALLOCATION if none starts there. */
int space_free(uint64_t start);

/* Home of page (inside r): block distribution puts share k of chunk pages on
 * rank first + k, cyclic puts page i on rank first + i (mod nranks). */
static inline int space_rec_home(const struct space_rec *r, uint64_t page)
{
    uint64_t i = page - r->start, n = (uint64_t)mdsm_space.nranks;
    uint64_t k = mdsm_space.distribution == MDSM_DIST_CYCLIC ? i % n : i / r->chunk;
    return (int)((k + (uint64_t)r->first) % n);
}

/* Pages from page on (inside r) with page's home: [page, end). */
static inline uint64_t space_rec_run_end(const struct space_rec *r, uint64_t page)
{
    if (mdsm_space.distribution == MDSM_DIST_CYCLIC)
        return page + 1;
    uint64_t end = (((page - r->start) / r->chunk) + 1) * r->chunk;
    return r->start + (end < r->npages ? end : r->npages);
}

/* Home rank of page; -1 when no live allocation holds it. Any thread. */
static inline int space_home(uint64_t page)
{
    struct space_rec r;
    return space_lookup(page, &r) ? space_rec_home(&r, page) : -1;
}

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

/* Offset of a page in every file and view, and so in its home's window. */
static inline uint64_t space_disp(uint64_t page)
{
    return page << mdsm_space.page_shift;
}

/* This rank's read-write view of a page it caches (fetch target, diff source). */
static inline char *space_cache_view(uint64_t page)
{
    return mdsm_space.cache_view + space_disp(page);
}

/* Rank home's pages are homed on this node and used in place (this rank's
 * own home pages always are). */
static inline int space_node_homes(int home)
{
    return mdsm_space.shares[home];
}

/* The sharer bytes (see the top), page aligned: page's byte in the home
 * view, and its displacement in the home window. */
static inline uint8_t *space_sharers(uint64_t page)
{
    return (uint8_t *)mdsm_space.arena + mdsm_space.size + page;
}

static inline uint64_t space_sharers_disp(uint64_t page)
{
    return mdsm_space.size + page;
}

/* Bytes after the sharer bytes that only the progress probe at init uses
 * (rma/passive.h): its home-window calls land there, a page's worth of them
 * as a page's (a transport may serve large transfers differently), then 64
 * for its atomics and sharer byte. */
static inline uint64_t space_scratch_bytes(void)
{
    return mdsm_space.page_size + 64;
}

static inline uint64_t space_scratch_disp(void)
{
    return mdsm_space.size + ((mdsm_space.npages + 63) & ~(uint64_t)63);
}

static inline uint8_t *space_scratch(void)
{
    return (uint8_t *)mdsm_space.arena + space_scratch_disp();
}

/* A new allocation's pages homed on this node on rank home need not have
 * their writes noticed, so they are mapped read-write: every rank uses them in
 * place (untracked), or they are this rank's own and nobody has fetched them yet. */
static inline int space_open_at_alloc(int home)
{
    return mdsm_space.untracked || home == mdsm_space.rank;
}

/* Gives the memory of [page, page+n) in the own file back (its copies read as
 * zero again). For evicted copies. */
void space_discard_copies(uint64_t page, uint64_t n);

#endif
