/*
 * Many writers under different locks: the slots of a few pages are dealt to
 * G groups, slot i to group i % G, so every stretch of G slots holds one slot
 * of each group. Group g is protected by its own lock. In each round every
 * rank takes one group's lock, checks that the group is a consistent
 * snapshot (all its slots equal, none below what this rank left there) and
 * adds rank+1 to every slot of the group. Ranks holding different locks thus
 * write the same pages, even the same words, in the same interval. At the
 * end every slot holds exactly the sum of the updates made to its group.
 */
#include <stdint.h>
#include <string.h>

#include "dsm_check.h"
#include "mt.h"

enum { W_PAGES = 3, G = 8, W_ROUNDS = 150 };

static int group_lock(int g)
{
    return 5 + 3 * g; /* spread over the ranks' lock homes */
}

/* Group that rank r updates in round k: at one moment the ranks are mostly on
 * different groups, and over the rounds every rank visits every group. */
static int group_of_round(int k, int r)
{
    return (k + 2 * r) % G;
}

/* Slot of width `width` bytes (1 or 4) at index i, as an unsigned value. */
static uint32_t slot_get(volatile uint8_t *base, int width, size_t i)
{
    return width == 1 ? base[i] : ((volatile uint32_t *)base)[i];
}

static void slot_add(volatile uint8_t *base, int width, size_t i, uint32_t add)
{
    if (width == 1)
        base[i] = (uint8_t)(base[i] + add);
    else
        ((volatile uint32_t *)base)[i] += add;
}

static void many_writers(int width)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    MT_ASSERT(ps > 0);
    size_t bytes = (size_t)W_PAGES * (size_t)ps, nslots = bytes / (size_t)width;
    volatile uint8_t *base = mdsm_alloc(bytes);
    MT_ASSERT(base != NULL);
    uint32_t mask = width == 1 ? 0xffu : 0xffffffffu;
    uint64_t mine[G] = {0}; /* what this rank left in each group (without wrap-around) */
    struct dc_tally tally = {0};

    for (int k = 0; k < W_ROUNDS; k++) {
        int g = group_of_round(k, me), lock = group_lock(g), rc = mdsm_lock(lock);
        if (rc != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "round %d: mdsm_lock(%d) returned %d (%s)", k, lock, rc,
                    mdsm_strerror(rc));
            break;
        }
        uint32_t first = slot_get(base, width, (size_t)g);
        if (width == 4 && first < mine[g])
            DC_MISMATCH(&tally,
                        "round %d: group %d (lock %d) reads %u under its lock, below the %llu this "
                        "rank left there",
                        k, g, lock, first, (unsigned long long)mine[g]);
        for (size_t i = (size_t)g; i < nslots; i += G) {
            uint32_t v = slot_get(base, width, i);
            if (v != first)
                DC_MISMATCH(&tally,
                            "round %d: under lock %d slot %zu of group %d (page %zu, home rank "
                            "%d) reads %u but slot %d of the same group reads %u: a partial "
                            "update is visible",
                            k, lock, i, g, i * (size_t)width / (size_t)ps,
                            dc_home(base + i * (size_t)width), v, g, first);
            slot_add(base, width, i, (uint32_t)(me + 1));
        }
        mine[g] = (uint64_t)first + (uint64_t)(me + 1);
        rc = mdsm_unlock(lock);
        if (rc != MDSM_OK) {
            mt_fail(__FILE__, __LINE__, "round %d: mdsm_unlock(%d) returned %d (%s)", k, lock, rc,
                    mdsm_strerror(rc));
            break;
        }
    }
    DC_TALLY_END(&tally, "updates under locks");

    /* Every rank can replay every other rank's schedule. */
    uint64_t want[G] = {0};
    for (int r = 0; r < n; r++)
        for (int k = 0; k < W_ROUNDS; k++)
            want[group_of_round(k, r)] += (uint64_t)(r + 1);
    MT_EXPECT_OK(mdsm_barrier());
    struct dc_tally final = {0};
    for (size_t i = 0; i < nslots; i++) {
        uint32_t v = slot_get(base, width, i), w = (uint32_t)(want[i % G] & mask);
        if (v != w)
            DC_MISMATCH(&final,
                        "after the barrier slot %zu of group %zu (page %zu, home rank %d, lock "
                        "%d) holds %u, expected %u (the sum of all updates to its group)",
                        i, i % G, i * (size_t)width / (size_t)ps, dc_home(base + i * (size_t)width),
                        group_lock((int)(i % G)), v, w);
    }
    DC_TALLY_END(&final, "final contents");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

MT_MDSM_TEST(writers, word_slots_under_different_locks)
{
    many_writers(4);
}

MT_MDSM_TEST(writers, byte_slots_under_different_locks)
{
    many_writers(1);
}
