/*
 * What node sharing saves (issue 9): ranks that share their node's home
 * memory read each other's pages in place, so a 1 GiB allocation read in full
 * by every rank of one node costs about 1 GiB of the node's memory, not 1 GiB
 * per rank. Measured as the sum over ranks of each process's proportional set
 * size (Pss, /proc/self/smaps_rollup), in which a page mapped by k processes
 * counts 1/k in each.
 */
#include <stdint.h>
#include <stdio.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

/* Sum over all ranks of Pss must stay below this when every rank shares one
 * node's home memory: the 1 GiB itself plus the processes' own memory. */
#define NM_PSS_LIMIT_KB (3LL * 512 * 1024) /* 1.5 GiB */

static int64_t nm_value(uint64_t page)
{
    return (int64_t)(dc_hash3(page, 0x6e6f6465, 1) >> 1) | 1;
}

static void one_gib(void)
{
    MT_EXPECT_OK(dc_node_map_init());
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), bytes = 1 * GiB, npages = bytes / ps;
    volatile char *base = mdsm_alloc(bytes);
    MT_ASSERT(base != NULL);
    size_t chunk = (npages + (size_t)n - 1) / (size_t)n;

    /* Each home touches every page of its share (block distribution). */
    for (size_t p = (size_t)me * chunk; p < npages && p < (size_t)(me + 1) * chunk; p++)
        *(volatile int64_t *)(base + p * ps) = nm_value(p);
    MT_EXPECT_EQ(dc_home(base + (size_t)me * chunk * ps), me);
    MT_EXPECT_OK(mdsm_barrier());

    /* Sharing one node: read every page. Otherwise each page read is a cached
     * copy: read the first quarter of each share only (within the default
     * 256 MiB cache at every rank count) and only report the memory. */
    int all_share = dc_all_share();
    uint64_t sum = 0, want = 0; /* wrapping sums */
    uint64_t read = 0;
    struct dc_tally tally = {0};
    for (size_t p = 0; p < npages; p++) {
        if (!all_share && p % chunk >= chunk / 4)
            continue;
        int64_t v = *(volatile int64_t *)(base + p * ps);
        if (v != nm_value(p))
            DC_MISMATCH(&tally, "page %zu (home rank %d) reads %lld, expected %lld", p,
                        dc_home(base + p * ps), (long long)v, (long long)nm_value(p));
        sum += (uint64_t)v;
        want += (uint64_t)nm_value(p);
        read++;
    }
    DC_TALLY_END(&tally, "reads of the allocation");
    MT_EXPECT_EQ(sum, want);

    long long pss = dc_pss_kb(), total = 0;
    MT_EXPECT(pss > 0);
    MPI_Allreduce(&pss, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    if (me == 0)
        printf("node_memory: %d ranks, %s; each read %llu of %zu pages; Pss summed over the ranks "
               "%lld MiB (rank 0: %lld MiB)\n",
               n, all_share ? "all share one node's home memory" : "home memory not all shared",
               (unsigned long long)read, npages, total / 1024, pss / 1024);
    if (all_share && total >= NM_PSS_LIMIT_KB)
        mt_fail(__FILE__, __LINE__,
                "every rank shares one node's home memory and read all of 1 GiB, but the ranks' "
                "Pss sums to %lld MiB, expected below %lld MiB",
                total / 1024, NM_PSS_LIMIT_KB / 1024);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

/* MDSM_SPACE_SIZE 2G, block: a 1 GiB allocation, each rank touching every
 * page of its share, then every rank reading every page (a subset where home
 * memory is not all shared). Values are checked in every mode; the Pss bound
 * is asserted only where all ranks share one node's home memory. */
MT_TEST(node_memory, one_gib_on_four_ranks_costs_one_gib)
{
    mdsm_config_t cfg;
    mdsm_config_init(&cfg);
    cfg.space_size = 2 * GiB;
    cfg.distribution = MDSM_DIST_BLOCK;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    one_gib();
    MT_EXPECT_OK(mdsm_finalize());
}
