#include "space/space.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/error.h"
#include "common/lazy.h"
#include "common/log.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

struct space mdsm_space;
struct space_former mdsm_space_former;

#define RESERVE_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)

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
    sp->memfd = -1;
    sp->page_size = s->page_size;
    sp->page_shift = (unsigned)__builtin_ctzll(s->page_size);
    sp->size = (s->space_size + s->page_size - 1) & ~(s->page_size - 1);
    sp->npages = sp->size >> sp->page_shift;
    sp->rank = rank;
    sp->nranks = nranks;
    sp->distribution = s->distribution;

    int rc = reserve(comm, sp->size, &sp->base);
    if (rc != MDSM_OK)
        return rc;
    /* Every rank can be home to every page of an allocation's share, so the
     * arena spans the whole space; it is sparse and costs only what is used. */
    sp->arena_size = sp->size;
    sp->memfd = memfd_create("mdsm-home", MFD_CLOEXEC);
    if (sp->memfd < 0 || ftruncate(sp->memfd, (off_t)sp->arena_size) != 0) {
        rc =
            mdsm_fail_internal(MDSM_ERR_SYSTEM, "space: memfd for home pages: %s", strerror(errno));
        goto err_unreserve;
    }
    sp->arena = mmap(NULL, sp->arena_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                     sp->memfd, 0);
    if (sp->arena == MAP_FAILED) {
        rc =
            mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: mapping the arena: %s", strerror(errno));
        goto err_close;
    }
    sp->pages = lazy_array(sp->npages * sizeof(*sp->pages));
    if (!sp->pages) {
        rc = mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: page table: %s", strerror(errno));
        goto err_unmap_arena;
    }
    if (extent_pool_init(&sp->va, sp->npages) || extent_pool_init(&sp->home, sp->npages)) {
        rc = mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: extent pools");
        goto err_pools;
    }
    return MDSM_OK;

err_pools:
    extent_pool_fini(&sp->va);
    extent_pool_fini(&sp->home);
    munmap(sp->pages, sp->npages * sizeof(*sp->pages));
err_unmap_arena:
    munmap(sp->arena, sp->arena_size);
err_close:
    if (sp->memfd >= 0)
        close(sp->memfd);
err_unreserve:
    munmap(sp->base, sp->size);
    memset(sp, 0, sizeof(*sp));
    return rc;
}

static void release(int keep_reserved)
{
    struct space *sp = &mdsm_space;
    if (!sp->base)
        return;
    free(sp->allocs);
    extent_pool_fini(&sp->va);
    extent_pool_fini(&sp->home);
    munmap(sp->pages, sp->npages * sizeof(*sp->pages));
    munmap(sp->arena, sp->arena_size);
    close(sp->memfd);
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
    if (sp->arena)
        mmap(sp->arena, sp->arena_size, PROT_NONE, RESERVE_FLAGS | MAP_FIXED, -1, 0);
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

/* Home of page i of an allocation of n pages split into shares of chunk pages. */
static void place(uint64_t i, uint64_t n_pages, uint64_t chunk, int nranks, int dist, int *home,
                  uint64_t *share_index)
{
    (void)n_pages;
    if (dist == MDSM_DIST_CYCLIC) {
        *home = (int)(i % (uint64_t)nranks);
        *share_index = i / (uint64_t)nranks;
    } else {
        *home = (int)(i / chunk);
        *share_index = i % chunk;
    }
}

/* Maps [page, page+n) of this rank's home pages from the arena, read-only so
 * that the first write of an interval is noticed. */
static int map_home_run(uint64_t page, uint64_t n)
{
    struct space *sp = &mdsm_space;
    void *want = space_page_addr(page);
    void *got = mmap(want, n << sp->page_shift, PROT_READ, MAP_SHARED | MAP_FIXED, sp->memfd,
                     (off_t)sp->pages[page].home_disp);
    if (got == MAP_FAILED)
        return mdsm_fail_internal(MDSM_ERR_NO_MEMORY, "space: mapping home pages: %s",
                                  strerror(errno));
    return MDSM_OK;
}

/* Puts [page, page+n) back to the reserved, inaccessible state. */
static void unmap_run(uint64_t page, uint64_t n)
{
    mmap(space_page_addr(page), n << mdsm_space.page_shift, PROT_NONE, RESERVE_FLAGS | MAP_FIXED,
         -1, 0);
}

int space_alloc(uint64_t npages, uint64_t *start_out)
{
    struct space *sp = &mdsm_space;
    uint64_t chunk = (npages + (uint64_t)sp->nranks - 1) / (uint64_t)sp->nranks;
    uint64_t start, home_start;
    if (extent_take(&sp->va, npages, &start) != 0)
        return MDSM_ERR_OUT_OF_SPACE;
    if (extent_take(&sp->home, chunk, &home_start) != 0) {
        extent_give(&sp->va, start, npages);
        return MDSM_ERR_OUT_OF_SPACE;
    }
    /* Reuse a dead record (the same one on every rank: records are kept in step). */
    int idx = -1;
    for (size_t i = 0; i < sp->nallocs && idx < 0; i++)
        if (!sp->allocs[i].live)
            idx = (int)i;
    if (idx < 0 && sp->nallocs == sp->cap_allocs) {
        size_t cap = sp->cap_allocs ? 2 * sp->cap_allocs : 16;
        struct space_alloc *a = realloc(sp->allocs, cap * sizeof(*a));
        if (!a) {
            extent_give(&sp->va, start, npages);
            extent_give(&sp->home, home_start, chunk);
            return MDSM_ERR_NO_MEMORY;
        }
        sp->allocs = a;
        sp->cap_allocs = cap;
    }
    if (idx < 0)
        idx = (int)sp->nallocs++;
    sp->allocs[idx] = (struct space_alloc){start, npages, home_start, chunk, 1};

    uint64_t run_start = 0, run_len = 0;
    for (uint64_t i = 0; i < npages; i++) {
        int home;
        uint64_t share;
        place(i, npages, chunk, sp->nranks, sp->distribution, &home, &share);
        struct space_page *pg = &sp->pages[start + i];
        pg->home = home;
        pg->alloc = (uint32_t)idx + 1;
        pg->home_disp = (home_start + share) << sp->page_shift;
        if (home != sp->rank)
            continue;
        /* Coalesce pages that are consecutive both globally and in the arena. */
        if (run_len && run_start + run_len == start + i &&
            sp->pages[run_start].home_disp + (run_len << sp->page_shift) == pg->home_disp) {
            run_len++;
            continue;
        }
        if (run_len && map_home_run(run_start, run_len) != MDSM_OK)
            goto err_unmap;
        run_start = start + i;
        run_len = 1;
    }
    if (run_len && map_home_run(run_start, run_len) != MDSM_OK)
        goto err_unmap;
    *start_out = start;
    return idx;

err_unmap:
    space_free(idx);
    return MDSM_ERR_NO_MEMORY;
}

int space_find_alloc(uint64_t start)
{
    struct space *sp = &mdsm_space;
    if (start >= sp->npages || sp->pages[start].alloc == 0)
        return -1;
    int idx = (int)sp->pages[start].alloc - 1;
    return sp->allocs[idx].live && sp->allocs[idx].start == start ? idx : -1;
}

int space_free(int idx)
{
    struct space *sp = &mdsm_space;
    struct space_alloc *a = &sp->allocs[idx];
    unmap_run(a->start, a->npages);
    for (uint64_t p = a->start; p < a->start + a->npages; p++)
        sp->pages[p] = (struct space_page){0, 0, 0};
    /* Zero this rank's share (and give its memory back) for the next user. */
    fallocate(sp->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
              (off_t)(a->home_start << sp->page_shift), (off_t)(a->home_pages << sp->page_shift));
    extent_give(&sp->va, a->start, a->npages);
    extent_give(&sp->home, a->home_start, a->home_pages);
    a->live = 0;
    return MDSM_OK;
}
