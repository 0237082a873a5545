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
