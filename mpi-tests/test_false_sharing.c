/*
 * False sharing at byte granularity: in the same interval every rank writes
 * the bytes whose index mod nranks is its rank, across several pages, so each
 * word of each page has several writers. After the barrier every byte must be
 * right on every rank: writes to different bytes are never lost.
 */
#include <stdint.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"

enum { FS_PAGES = 5, FS_ROUNDS = 100 };

/* Never 0 (the initial contents) and different from the value two rounds
 * before, which is what the same buffer held. */
static uint8_t fs_value(int round, size_t i)
{
    return (uint8_t)(1 + ((unsigned)round * 37u + (unsigned)(i % 251) * 11u) % 255u);
}

/* Two buffers alternate so that one barrier per round suffices: a rank cannot
 * write a buffer again before every rank has passed the next barrier, which
 * they reach only after checking that buffer. Odd rounds write backwards. */
static void interleaved_bytes(size_t bytes_per_buffer, int rounds)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    volatile uint8_t *base = mdsm_alloc(2 * bytes_per_buffer);
    MT_ASSERT(base != NULL && ps > 0);
    struct dc_tally tally = {0};
    for (int r = 0; r < rounds; r++) {
        volatile uint8_t *buf = base + (size_t)(r % 2) * bytes_per_buffer;
        if (r % 2 == 0) {
            for (size_t i = (size_t)me; i < bytes_per_buffer; i += (size_t)n)
                buf[i] = fs_value(r, i);
        } else {
            for (size_t i = bytes_per_buffer; i-- > 0;)
                if (i % (size_t)n == (size_t)me)
                    buf[i] = fs_value(r, i);
        }
        MT_EXPECT_OK(mdsm_barrier());
        for (size_t i = 0; i < bytes_per_buffer; i++) {
            uint8_t want = fs_value(r, i), seen = buf[i];
            if (seen != want)
                DC_MISMATCH(
                    &tally,
                    "round %d: byte %zu of buffer %d (page %zu, home rank %d, written by "
                    "rank %zu) is %#x after the barrier, expected %#x%s",
                    r, i, r % 2, i / (size_t)ps, dc_home(&buf[i]), i % (size_t)n, seen, want,
                    r >= 2 && seen == fs_value(r - 2, i) ? " (the value of two rounds before)"
                                                         : "");
        }
    }
    DC_TALLY_END(&tally, "interleaved bytes");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

MT_MDSM_TEST(false_sharing, interleaved_bytes_default_pages)
{
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    /* An odd tail: the last page is written only in part. */
    interleaved_bytes((size_t)FS_PAGES * (size_t)ps - 13, FS_ROUNDS);
}

/* The same with a coherence unit of two OS pages, pages homed cyclically. */
MT_TEST(false_sharing, interleaved_bytes_big_pages_cyclic)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.page_size = 2 * (size_t)sysconf(_SC_PAGESIZE);
    cfg.distribution = MDSM_DIST_CYCLIC;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    MT_EXPECT_EQ(mdsm_page_size(), (long)cfg.page_size);
    interleaved_bytes(3 * cfg.page_size + 1, FS_ROUNDS / 2);
    MT_EXPECT_OK(mdsm_finalize());
}

/* A rank that writes a byte and then puts the old value back has changed
 * nothing: its diff must not carry that byte over a neighbour's write. Rank q
 * owns the bytes i % n == q; in each round it first scribbles over all its
 * bytes, then restores every other one. */
MT_MDSM_TEST(false_sharing, written_back_bytes_do_not_clobber)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    size_t bytes = 2 * (size_t)ps;
    volatile uint8_t *buf = mdsm_alloc(bytes);
    MT_ASSERT(buf != NULL);
    uint8_t *model = calloc(bytes, 1);
    MT_ASSERT(model != NULL);
    struct dc_tally tally = {0};
    for (int r = 0; r < 20; r++) {
        for (size_t i = (size_t)me; i < bytes; i += (size_t)n) {
            uint8_t old = buf[i];
            buf[i] = (uint8_t)(old ^ 0x5a);
            if ((i / (size_t)n + (size_t)r) % 2 == 0)
                buf[i] = old; /* written back: no change in this interval */
            else
                buf[i] = fs_value(r, i);
        }
        for (size_t i = 0; i < bytes; i++) /* the same decisions, for every owner */
            if ((i / (size_t)n + (size_t)r) % 2 != 0)
                model[i] = fs_value(r, i);
        MT_EXPECT_OK(mdsm_barrier());
        for (size_t i = 0; i < bytes; i++)
            if (buf[i] != model[i])
                DC_MISMATCH(&tally,
                            "round %d: byte %zu (page %zu, home rank %d, owner rank %zu) is %#x "
                            "after the barrier, expected %#x",
                            r, i, i / (size_t)ps, dc_home(&buf[i]), i % (size_t)n, buf[i],
                            model[i]);
        MT_EXPECT_OK(mdsm_barrier());
    }
    DC_TALLY_END(&tally, "written-back bytes");
    free(model);
    MT_EXPECT_OK(mdsm_free((void *)buf));
}

/* Changed bytes that continue each other across a page boundary go home as
 * one extent; bytes around and between such extents belong to another
 * writer and must survive it. On 4 consecutive pages homed on the last rank,
 * rank 0 writes [ps-64, ps+64) (one extent over two pages), [2ps-64, 2ps) and
 * [2ps+1, 2ps+64) (a page end, then a next page starting one byte later),
 * and all of the fourth page but one byte. Rank n > 1 ? 1 : 0 writes the
 * bytes just outside and between: ps-65, ps+64, 2ps and 3ps+100. */
static uint8_t ext_value(int round, size_t i, int writer)
{
    return (uint8_t)(1 +
                     ((unsigned)round * 29u + (unsigned)(i % 241) * 7u + (unsigned)writer) % 255u);
}

static int ext_writer(size_t i, size_t ps)
{
    if (i == ps - 65 || i == ps + 64 || i == 2 * ps || i == 3 * ps + 100)
        return 1;
    if ((i >= ps - 64 && i < ps + 64) || (i >= 2 * ps - 64 && i < 2 * ps + 64) || i >= 3 * ps)
        return 0;
    return -1; /* nobody: stays 0 */
}

MT_MDSM_TEST(false_sharing, extents_across_page_boundaries_keep_neighbours_bytes)
{
    int n = mdsm_nranks(), me = mdsm_rank(), home = n - 1;
    size_t ps = (size_t)mdsm_page_size();
    size_t npages = 5 * (size_t)n; /* block: 5 consecutive pages on every rank */
    volatile uint8_t *a = mdsm_alloc(npages * ps);
    MT_ASSERT(a != NULL);
    volatile uint8_t *buf = NULL;
    for (size_t p = 0; p + 4 <= npages && !buf; p++) {
        int same = 1;
        for (size_t k = 0; k < 4; k++)
            same &= dc_home((const void *)(a + (p + k) * ps)) == home;
        if (same)
            buf = a + p * ps;
    }
    MT_ASSERT(buf != NULL);
    int second = n > 1 ? 1 : 0;
    size_t bytes = 4 * ps;
    struct dc_tally tally = {0};
    for (int r = 1; r <= 20; r++) {
        for (size_t i = 0; i < bytes; i++) {
            int w = ext_writer(i, ps);
            if (w == 0 && me == 0)
                buf[i] = ext_value(r, i, 0);
            else if (w == 1 && me == second)
                buf[i] = ext_value(r, i, 1);
        }
        MT_EXPECT_OK(mdsm_barrier());
        for (size_t i = 0; i < bytes; i++) {
            int w = ext_writer(i, ps);
            uint8_t want = w < 0 ? 0 : ext_value(r, i, w);
            if (buf[i] != want)
                DC_MISMATCH(&tally,
                            "round %d: byte %zu (page %zu of 4, home rank %d, written by %s) is "
                            "%#x after the barrier, expected %#x",
                            r, i, i / ps, home,
                            w < 0    ? "nobody"
                            : w == 0 ? "rank 0"
                                     : "the second writer",
                            buf[i], want);
        }
        MT_EXPECT_OK(mdsm_barrier());
    }
    DC_TALLY_END(&tally, "extents across page boundaries");
    MT_EXPECT_OK(mdsm_free((void *)a));
}
