#include "space/space.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/error.h"
#include "common/lazy.h"
#include "common/log.h"
#include "topo/topo.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct space mdsm_space;
struct space_former mdsm_space_former;

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)
/* Every file mapping uses the same flags, so that neighbours merge. */
#define FILE_FLAGS (MAP_SHARED | MAP_NORESERVE)

/* Addresses tried for the global range, high in the 47-bit user space and
 * clear of AddressSanitizer's shadow. */
static const uintptr_t candidates[] = {0x200000000000, 0x300000000000, 0x400000000000,
                                       0x500000000000, 0x600000000000};

static int reserve(MPI_Comm comm, size_t size, char **out)
{
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        void *want = (void *)candidates[i];
        void *got = mmap(want, size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED_NOREPLACE, -1, 0);
        int ok = got == want;
        if (got != MAP_FAILED && !ok)
            munmap(got, size); /* an old kernel ignored the hint */
        int all_ok = 0;
        if (MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
            return mdsm_fail_internal(MDSM_ERR_MPI, "space: MPI_Allreduce failed");
        if (all_ok) {
            *out = want;
            return MDSM_OK;
        }
        if (ok)
            munmap(want, size);
    }
    return mdsm_fail_internal(MDSM_ERR_NO_MEMORY,
                              "space: no address range of %zu bytes is free on every rank", size);
}

/* A sparse memfd spanning the space: it costs only the pages used. */
static int make_file(const char *name, size_t size)
{
    int fd = memfd_create(name, MFD_CLOEXEC);
    if (fd >= 0 && ftruncate(fd, (off_t)size) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static char *map_view(int fd, size_t size)
{
    char *v = mmap(NULL, size, PROT_READ | PROT_WRITE, FILE_FLAGS, fd, 0);
    return v == MAP_FAILED ? NULL : v;
}

/* Collective over the node: the lowest rank creates the node file, the others
 * open it through /proc (same user, no file name left behind). Every rank of
 * the node ends with the same outcome: the file in *fd, or -1 and a note. */
static void share_node_file(MPI_Comm node, size_t size, int *fd)
{
    struct space *sp = &mdsm_space;
    int lrank = 0, lsize = 1;
    MPI_Comm_rank(node, &lrank);
    MPI_Comm_size(node, &lsize);
    long who[2] = {0, -1}; /* pid, fd of the leader's file */
    int err = 0;
    *fd = -1;
    if (lrank == 0) {
        *fd = make_file("mdsm-node", size);
        err = *fd < 0 ? errno : 0;
        who[0] = (long)getpid();
        who[1] = *fd;
    }
    if (MPI_Bcast(who, 2, MPI_LONG, 0, node) != MPI_SUCCESS)
        who[1] = -1;
    if (lrank != 0 && who[1] >= 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/fd/%ld", who[0], who[1]);
        *fd = open(path, O_RDWR | O_CLOEXEC);
        err = *fd < 0 ? errno : 0;
    }
    int ok = *fd >= 0, all = 0;
    if (MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, node) != MPI_SUCCESS)
        all = 0;
    if (all)
        return;
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
    snprintf(sp->sharing_note, sizeof(sp->sharing_note),
             "off: the node's home file could not be %s (%s); every rank uses its own",
             lrank == 0 ? "created" : "opened through /proc", err ? strerror(err) : "another rank");
    if (err)
        MDSM_WARN("node sharing %s", sp->sharing_note);
}

/* Marks the ranks whose home pages this rank uses in place. Collective over node. */
static int find_sharers(MPI_Comm node)
{
    struct space *sp = &mdsm_space;
    sp->shares = calloc((size_t)sp->nranks, 1);
    if (!sp->shares)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: rank table");
    sp->shares[sp->rank] = 1;
    sp->node_nranks = 1;
    sp->node_leader = 1;
    if (!sp->sharing)
        return MDSM_OK;
    int lsize = 1;
    MPI_Comm_size(node, &lsize);
    int *ranks = malloc((size_t)lsize * sizeof(int));
    int ok = ranks && MPI_Allgather(&sp->rank, 1, MPI_INT, ranks, 1, MPI_INT, node) == MPI_SUCCESS;
    for (int i = 0; ok && i < lsize; i++)
        sp->shares[ranks[i]] = 1;
    sp->node_nranks = lsize;
    sp->node_leader = ok && ranks[0] == sp->rank;
    free(ranks);
    return ok ? MDSM_OK : mdsm_fail_internal(MDSM_ERR_MPI, "space: listing the node's ranks");
}

/* Sets up the files and views; collective over the node when sharing is wanted. */
static int open_files(const struct mdsm_settings *s)
{
    struct space *sp = &mdsm_space;
    MPI_Comm node = topo_node_comm();
    int lsize = 1;
    if (node != MPI_COMM_NULL)
        MPI_Comm_size(node, &lsize);
    sp->sharing_wanted = s->node_sharing;
    if (s->node_sharing && lsize > 1) {
        share_node_file(node, sp->view_size, &sp->node_fd);
        sp->sharing = sp->node_fd >= 0;
        sp->sharing_failed = !sp->sharing;
    } else if (!s->node_sharing) {
        snprintf(sp->sharing_note, sizeof(sp->sharing_note), "off (MDSM_NODE_SHARING=off)");
    }
    sp->own_fd = make_file("mdsm-cache", sp->view_size);
    if (sp->own_fd < 0)
        return mdsm_fail_internal(MDSM_ERR_SYSTEM, "space: memfd for pages: %s", strerror(errno));
    if (!sp->sharing)
        sp->node_fd = sp->own_fd;
    sp->cache_view = map_view(sp->own_fd, sp->view_size);
    sp->arena = sp->sharing ? map_view(sp->node_fd, sp->view_size) : sp->cache_view;
    sp->arena_size = sp->view_size;
    if (!sp->cache_view || !sp->arena)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: mapping the page views: %s",
                                  strerror(errno));
    /* The range itself: the own file, inaccessible; homes are mapped per allocation. */
    if (mmap(sp->base, sp->size, PROT_NONE, FILE_FLAGS | MAP_FIXED, sp->own_fd, 0) != sp->base)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: mapping the range: %s",
                                  strerror(errno));
    int rc = find_sharers(node);
    /* Every rank uses every home page in place: nobody holds a copy that a
     * write would make stale, so writes need not be noticed at all. */
    sp->untracked =
        rc == MDSM_OK && sp->sharing_wanted && !sp->sharing_failed && sp->node_nranks == sp->nranks;
    return rc;
}

static void close_files(void)
{
    struct space *sp = &mdsm_space;
    if (sp->arena && sp->arena != sp->cache_view)
        munmap(sp->arena, sp->view_size);
    if (sp->cache_view)
        munmap(sp->cache_view, sp->view_size);
    if (sp->node_fd >= 0 && sp->node_fd != sp->own_fd)
        close(sp->node_fd);
    if (sp->own_fd >= 0)
        close(sp->own_fd);
    free(sp->shares);
    sp->arena = sp->cache_view = NULL;
    sp->node_fd = sp->own_fd = -1;
    sp->shares = NULL;
}

int space_init(const struct mdsm_settings *s, MPI_Comm comm, int rank, int nranks)
{
    struct space *sp = &mdsm_space;
    /* The last session's range may be reused now: its pointers are dead anyway. */
    if (mdsm_space_former.base) {
        munmap(mdsm_space_former.base, mdsm_space_former.size);
        mdsm_space_former.base = NULL;
        mdsm_space_former.size = 0;
    }
    memset(sp, 0, sizeof(*sp));
    sp->own_fd = sp->node_fd = -1;
    sp->page_size = s->page_size;
    sp->page_shift = (unsigned)__builtin_ctzll(s->page_size);
    sp->size = (s->space_size + s->page_size - 1) & ~(s->page_size - 1);
    sp->npages = sp->size >> sp->page_shift;
    sp->rank = rank;
    sp->nranks = nranks;
    sp->distribution = s->distribution;
    /* The sharer bytes, then the probe's scratch, follow the pages in each
     * file, OS-page aligned. */
    size_t os_page = (size_t)sysconf(_SC_PAGESIZE);
    size_t tail = space_scratch_disp() - sp->size + space_scratch_bytes();
    sp->view_size = sp->size + ((tail + os_page - 1) & ~(os_page - 1));

    int rc = reserve(comm, sp->size, &sp->base);
    if (rc != MDSM_OK)
        return rc;
    rc = open_files(s);
    if (rc != MDSM_OK)
        goto err_files;
    if (extent_pool_init(&sp->va, sp->npages)) {
        rc = mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: extent pool");
        extent_pool_fini(&sp->va);
        goto err_files;
    }
    return MDSM_OK;

err_files:
    close_files();
    munmap(sp->base, sp->size);
    memset(sp, 0, sizeof(*sp));
    return rc;
}

static void release(int keep_reserved)
{
    struct space *sp = &mdsm_space;
    if (!sp->base)
        return;
    free(sp->recs);
    for (size_t i = 0; i < sp->nretired; i++)
        free(sp->retired[i]);
    free(sp->retired);
    extent_pool_fini(&sp->va);
    close_files();
    /* One mapping over the range drops every home and cached page at once. */
    if (keep_reserved &&
        mmap(sp->base, sp->size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0) == sp->base) {
        mdsm_space_former.base = sp->base;
        mdsm_space_former.size = sp->size;
    } else {
        munmap(sp->base, sp->size);
    }
    memset(sp, 0, sizeof(*sp));
}

void space_fini(void)
{
    release(0);
}

void space_retire(void)
{
    release(1);
}

void space_forget_in_child(void)
{
    struct space *sp = &mdsm_space;
    if (sp->base)
        mmap(sp->base, sp->size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0);
    if (sp->cache_view)
        mmap(sp->cache_view, sp->view_size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0);
    if (sp->arena && sp->arena != sp->cache_view)
        mmap(sp->arena, sp->view_size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0);
}

int space_range_mapped(const void *addr, size_t len)
{
    /* mincore fails with ENOMEM exactly when part of the range is unmapped. */
    unsigned char vec[64];
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE), start = (uintptr_t)addr & ~(ps - 1);
    uintptr_t end = (uintptr_t)addr + len;
    while (start < end) {
        size_t n = end - start > 64 * ps ? 64 * ps : end - start;
        if (mincore((void *)start, n, vec) != 0 && errno == ENOMEM)
            return 0;
        start += n;
    }
    return 1;
}

/* ---- Allocation records ------------------------------------------------ */

/* The seqlock's writer side (space.h: recs_seq). Only the thread in a
 * collective call writes, so the count needs no read-modify-write. */
static void recs_write_begin(struct space *sp)
{
    __atomic_store_n(&sp->recs_seq, sp->recs_seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

static void recs_write_end(struct space *sp)
{
    __atomic_store_n(&sp->recs_seq, sp->recs_seq + 1, __ATOMIC_RELEASE);
}

/* Index of the last record starting at or before page in t[0, n); -1 if none. */
static long recs_floor(const struct space_rec *t, size_t n, uint64_t page)
{
    size_t lo = 0, hi = n; /* t[lo-1].start <= page < t[hi].start */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (__atomic_load_n(&t[mid].start, __ATOMIC_RELAXED) <= page)
            lo = mid + 1;
        else
            hi = mid;
    }
    return (long)lo - 1;
}

int space_lookup(uint64_t page, struct space_rec *r)
{
    const struct space *sp = &mdsm_space;
    for (;;) {
        uint64_t seq = __atomic_load_n(&sp->recs_seq, __ATOMIC_ACQUIRE);
        if (seq & 1) {
            sched_yield(); /* a collective call is changing the records */
            continue;
        }
        /* The count first: a count raised past the old array's room was
         * stored (release) after the larger array was published. */
        size_t n = __atomic_load_n(&sp->nrecs, __ATOMIC_ACQUIRE);
        const struct space_rec *t = __atomic_load_n(&sp->recs, __ATOMIC_ACQUIRE);
        long i = recs_floor(t, n, page);
        int found = 0;
        if (i >= 0) {
            const struct space_rec *q = &t[i];
            r->start = __atomic_load_n(&q->start, __ATOMIC_RELAXED);
            r->npages = __atomic_load_n(&q->npages, __ATOMIC_RELAXED);
            r->chunk = __atomic_load_n(&q->chunk, __ATOMIC_RELAXED);
            r->first = __atomic_load_n(&q->first, __ATOMIC_RELAXED);
            found = page - r->start < r->npages;
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&sp->recs_seq, __ATOMIC_RELAXED) == seq)
            return found;
    }
}

/* Room for one more record; the old array is kept for readers still in it. */
static int recs_reserve(struct space *sp)
{
    if (sp->nrecs < sp->cap_recs)
        return MDSM_OK;
    size_t cap = sp->cap_recs ? 2 * sp->cap_recs : 16;
    struct space_rec *t = malloc(cap * sizeof(*t));
    struct space_rec **old = realloc(sp->retired, (sp->nretired + 1) * sizeof(*old));
    if (old)
        sp->retired = old;
    if (!t || !old) {
        free(t);
        return MDSM_ERR_NO_MEMORY;
    }
    if (sp->nrecs)
        memcpy(t, sp->recs, sp->nrecs * sizeof(*t));
    if (sp->recs)
        sp->retired[sp->nretired++] = sp->recs;
    __atomic_store_n(&sp->recs, t, __ATOMIC_RELEASE);
    sp->cap_recs = cap;
    return MDSM_OK;
}

static void recs_store(struct space_rec *q, const struct space_rec *v)
{
    __atomic_store_n(&q->start, v->start, __ATOMIC_RELAXED);
    __atomic_store_n(&q->npages, v->npages, __ATOMIC_RELAXED);
    __atomic_store_n(&q->chunk, v->chunk, __ATOMIC_RELAXED);
    __atomic_store_n(&q->first, v->first, __ATOMIC_RELAXED);
}

/* Moves records [from, nrecs) by one place, up (+1) or down (-1). */
static void recs_shift(struct space *sp, size_t from, int up)
{
    if (up)
        for (size_t i = sp->nrecs; i > from; i--)
            recs_store(&sp->recs[i], &sp->recs[i - 1]);
    else
        for (size_t i = from; i + 1 < sp->nrecs; i++)
            recs_store(&sp->recs[i], &sp->recs[i + 1]);
}

int space_alloc(uint64_t npages, uint64_t *start_out)
{
    struct space *sp = &mdsm_space;
    uint64_t start;
    if (recs_reserve(sp) != MDSM_OK)
        return MDSM_ERR_NO_MEMORY;
    if (extent_take(&sp->va, npages, &start) != 0)
        return MDSM_ERR_OUT_OF_SPACE;
    /* An allocation of fewer pages than ranks starts where the last such one
     * ended (space_alloc_agreed moves it on), so that small allocations
     * spread over the ranks; larger ones start on rank 0 (rank r's share is
     * the r-th). Every rank computes the same: allocations are collective. */
    struct space_rec rec = {start, npages,
                            (npages + (uint64_t)sp->nranks - 1) / (uint64_t)sp->nranks,
                            npages < (uint64_t)sp->nranks ? sp->small_first : 0};
    size_t at = (size_t)(recs_floor(sp->recs, sp->nrecs, start) + 1);
    recs_write_begin(sp);
    recs_shift(sp, at, 1);
    recs_store(&sp->recs[at], &rec);
    __atomic_store_n(&sp->nrecs, sp->nrecs + 1, __ATOMIC_RELEASE);
    recs_write_end(sp);
    *start_out = start;
    return MDSM_OK;
}

void space_alloc_agreed(uint64_t npages)
{
    struct space *sp = &mdsm_space;
    if (npages < (uint64_t)sp->nranks)
        sp->small_first = (int)(((uint64_t)sp->small_first + npages) % (uint64_t)sp->nranks);
}

/* Maps [page, page+n), homed on this node, from the node file. */
static int map_home_run(uint64_t page, uint64_t n, int prot)
{
    struct space *sp = &mdsm_space;
    void *want = space_page_addr(page);
    size_t len = n << sp->page_shift;
    int ok = sp->sharing ? mmap(want, len, prot, FILE_FLAGS | MAP_FIXED, sp->node_fd,
                                (off_t)space_disp(page)) == want
                         : mprotect(want, len, prot) == 0;
    if (!ok)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: mapping home pages: %s",
                                  strerror(errno));
    return MDSM_OK;
}

/* A new allocation's pages homed on this node on rank home: inaccessible when
 * lazy, read-only where their first write must be noticed. */
static int home_prot(int home, int lazy)
{
    if (lazy)
        return PROT_NONE;
    return space_open_at_alloc(home) ? PROT_READ | PROT_WRITE : PROT_READ;
}

int space_map_homes(uint64_t start, int lazy)
{
    struct space *sp = &mdsm_space;
    struct space_rec r;
    if (!space_lookup(start, &r))
        return mdsm_fail_internal(MDSM_ERR_INTERNAL, "space: no allocation at page %llu",
                                  (unsigned long long)start);
    /* Lazy without sharing: the pages are already there, inaccessible. */
    if (lazy && !sp->sharing)
        return MDSM_OK;
    uint64_t end = r.start + r.npages;
    /* Runs of pages with one home, joined while homed on this node alike. */
    for (uint64_t p = r.start; p < end;) {
        int home = space_rec_home(&r, p);
        uint64_t q = space_rec_run_end(&r, p);
        if (!space_node_homes(home)) {
            p = q;
            continue;
        }
        int prot = home_prot(home, lazy);
        while (q < end && space_node_homes(space_rec_home(&r, q)) &&
               home_prot(space_rec_home(&r, q), lazy) == prot)
            q = space_rec_run_end(&r, q);
        if (map_home_run(p, q - p, prot) != MDSM_OK)
            return MDSM_ERR_NO_MEMORY;
        p = q;
    }
    return MDSM_OK;
}

void space_discard_copies(uint64_t page, uint64_t n)
{
    struct space *sp = &mdsm_space;
    fallocate(sp->own_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)space_disp(page),
              (off_t)(n << sp->page_shift));
}

int space_free(uint64_t start)
{
    struct space *sp = &mdsm_space;
    struct space_rec r;
    if (!space_lookup(start, &r) || r.start != start)
        return MDSM_ERR_NOT_ALLOCATION;
    size_t len = r.npages << sp->page_shift;
    /* Back to the own file, inaccessible: one mapping with its neighbours again. */
    mmap(space_page_addr(r.start), len, PROT_NONE, FILE_FLAGS | MAP_FIXED, sp->own_fd,
         (off_t)space_disp(r.start));
    /* This rank's sharer bytes: others' fetches are over (the ranks synchronised). */
    for (uint64_t p = r.start, q; p < r.start + r.npages; p = q) {
        q = space_rec_run_end(&r, p);
        if (space_rec_home(&r, p) == sp->rank)
            memset(space_sharers(p), 0, q - p);
    }
    /* Zero the memory (and give it back) for the next user. */
    space_discard_copies(r.start, r.npages);
    if (sp->sharing && sp->node_leader)
        fallocate(sp->node_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                  (off_t)space_disp(r.start), (off_t)len);
    extent_give(&sp->va, r.start, r.npages);
    size_t at = (size_t)recs_floor(sp->recs, sp->nrecs, start);
    recs_write_begin(sp);
    recs_shift(sp, at, 0);
    __atomic_store_n(&sp->nrecs, sp->nrecs - 1, __ATOMIC_RELEASE);
    recs_write_end(sp);
    return MDSM_OK;
}
