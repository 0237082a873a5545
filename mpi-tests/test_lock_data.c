/* Data guarded by a lock: a lock acquire that misses only a few write notices
 * brings the read-only copies this rank holds of those pages up to date in
 * place (pages_refreshed), so the holder reads them without a fault and sees
 * every earlier holder's writes. One that misses more drops them (each read
 * then faults). Ranks take the lock in turn, in rank order, one at a time. */
#include <stdint.h>

#include "dsm_check.h"
#include "mt.h"
#include "node_check.h"

enum { LD_ROUNDS = 4, LD_MANY = 20 /* more notices than a lock acquire refreshes (16) */ };

/* Collective: one page per rank; the cell is word 0 of the last page (homed
 * on the last rank). *copy: this rank caches that page (neither its home nor
 * sharing its home memory). NULL if the allocation fails. */
static volatile int64_t *ld_cell(char **base, int *copy)
{
    int n = mdsm_nranks();
    long ps = mdsm_page_size();
    if (dc_node_map_init() != MDSM_OK || !(*base = mdsm_alloc((size_t)n * (size_t)ps)))
        return NULL;
    volatile int64_t *cell = (volatile int64_t *)(*base + (size_t)(n - 1) * (size_t)ps);
    *copy = dc_home(cell) != mdsm_rank() && !dc_shares_home(dc_home(cell));
    return cell;
}

/* Collective: ld_cell, then every rank reads the cell (a copy where it
 * caches the page) and two barriers pass, the second one's release at the
 * home seeing every sharer byte: from then on the home's writes to the page
 * are tracked wherever another node caches it. NULL if ld_cell fails. */
static volatile int64_t *ld_shared_cell(char **base, int *copy)
{
    volatile int64_t *cell = ld_cell(base, copy);
    if (!cell)
        return NULL;
    MT_EXPECT_EQ(*cell, 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_barrier());
    return cell;
}

/* Each rank in turn: lock, read the counter, add 1, unlock. From the second
 * round on a rank holds a read-only copy of the counter's page (unless it is
 * used in place), which the acquire refreshes and twins: the read and the
 * write raise no fault, the read sees the last holder's value, the page is
 * fetched once and the increment goes home as one diff. */
MT_MDSM_TEST(lock_data, counter_copy_is_refreshed_at_the_lock)
{
    int n = mdsm_nranks(), me = mdsm_rank(), copy = 0;
    char *base = NULL;
    volatile int64_t *counter = ld_cell(&base, &copy);
    MT_ASSERT(counter != NULL);
    MT_EXPECT_OK(mdsm_barrier());
    for (int round = 0; round < LD_ROUNDS; round++) {
        for (int turn = 0; turn < n; turn++) {
            if (turn == me) {
                mdsm_stats_t a, b;
                MT_EXPECT_OK(mdsm_stats_get(&a));
                MT_EXPECT_OK(mdsm_lock(0));
                int64_t v = *counter;
                MT_EXPECT_EQ(v, (int64_t)round * n + turn);
                *counter = v + 1;
                MT_EXPECT_OK(mdsm_unlock(0));
                MT_EXPECT_OK(mdsm_stats_get(&b));
                if (round > 0 && copy && n > 1) {
                    MT_EXPECT_EQ(b.read_faults - a.read_faults, 0);
                    MT_EXPECT_EQ(b.write_faults - a.write_faults, 0); /* twin made at the lock */
                    MT_EXPECT_EQ(b.diffs - a.diffs, 1);
                    MT_EXPECT_EQ(b.pages_refreshed - a.pages_refreshed, 1);
                    MT_EXPECT_EQ(b.pages_fetched - a.pages_fetched, 1);
                    MT_EXPECT_EQ(b.invalidations - a.invalidations, 0);
                } else if (!copy) {
                    MT_EXPECT_EQ(b.pages_refreshed - a.pages_refreshed, 0);
                    MT_EXPECT_EQ(b.pages_fetched - a.pages_fetched, 0);
                }
            }
            MPI_Barrier(MPI_COMM_WORLD);
        }
    }
    MT_EXPECT_OK(mdsm_lock(0));
    MT_EXPECT_EQ(*counter, (int64_t)LD_ROUNDS * n);
    MT_EXPECT_OK(mdsm_unlock(0));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* The home of a page other nodes fetch writes it under the lock in every
 * interval: the first two writes fault (a page written once is closed at
 * once), later ones do not (the page stays writable and each release
 * compares it with a twin), and every holder still sees the last holder's
 * value. A release with no change to it closes the page (the home's turn
 * is each round's last, so nothing changed it since): the next write faults
 * once more, and the other ranks see it. */
MT_MDSM_TEST(lock_data, home_page_written_each_interval_stays_writable)
{
    int n = mdsm_nranks(), me = mdsm_rank(), copy = 0, any_copy = 0;
    char *base = NULL;
    volatile int64_t *counter = ld_shared_cell(&base, &copy);
    MT_ASSERT(counter != NULL);
    MPI_Allreduce(&copy, &any_copy, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    int tracked = me == n - 1 && any_copy; /* this rank is the home, and its writes are noticed */
    for (int round = 0; round < LD_ROUNDS; round++) {
        for (int turn = 0; turn < n; turn++) {
            if (turn == me) {
                mdsm_stats_t a, b;
                MT_EXPECT_OK(mdsm_lock(0));
                MT_EXPECT_OK(mdsm_stats_get(&a));
                int64_t v = *counter;
                MT_EXPECT_EQ(v, (int64_t)round * n + turn);
                *counter = v + 1;
                MT_EXPECT_OK(mdsm_stats_get(&b));
                MT_EXPECT_OK(mdsm_unlock(0));
                if (tracked)
                    MT_EXPECT_EQ(b.write_faults - a.write_faults, round < 2 ? 1 : 0);
            }
            MPI_Barrier(MPI_COMM_WORLD);
        }
    }
    if (me == n - 1) {
        MT_EXPECT_OK(mdsm_release()); /* unchanged since the home's last turn: closed */
        MT_EXPECT_OK(mdsm_release()); /* nothing listed: no effect */
        mdsm_stats_t a, b;
        MT_EXPECT_OK(mdsm_lock(0));
        MT_EXPECT_OK(mdsm_stats_get(&a));
        *counter += 1;
        MT_EXPECT_OK(mdsm_stats_get(&b));
        MT_EXPECT_OK(mdsm_unlock(0));
        if (tracked)
            MT_EXPECT_EQ(b.write_faults - a.write_faults, 1);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    MT_EXPECT_OK(mdsm_lock(0));
    MT_EXPECT_EQ(*counter, (int64_t)LD_ROUNDS * n + 1);
    MT_EXPECT_OK(mdsm_unlock(0));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* A copy written in every interval: its first write faults and makes the
 * twin, later ones do not (the page stays writable, and each release diffs
 * it against the twin, which it then updates), each release still writes one
 * diff home. A release with no change closes it: the next write faults once
 * more. The home and every other rank see each interval's value. */
MT_MDSM_TEST(lock_data, copy_written_each_interval_stays_writable)
{
    int me = mdsm_rank(), copy = 0;
    char *base = NULL;
    volatile int64_t *cell = ld_cell(&base, &copy);
    MT_ASSERT(cell != NULL);
    int writer = me == 0; /* counts are checked where it keeps a copy */
    MT_EXPECT_EQ(*cell, 0);
    MT_EXPECT_OK(mdsm_barrier());
    for (int round = 0; round < LD_ROUNDS; round++) {
        if (writer) {
            mdsm_stats_t a, b;
            MT_EXPECT_OK(mdsm_stats_get(&a));
            *cell = round + 1;
            MT_EXPECT_OK(mdsm_release());
            MT_EXPECT_OK(mdsm_stats_get(&b));
            if (copy) {
                MT_EXPECT_EQ(b.write_faults - a.write_faults, round == 0 ? 1 : 0);
                MT_EXPECT_EQ(b.diffs - a.diffs, 1);
            }
        }
        MPI_Barrier(MPI_COMM_WORLD);
        MT_EXPECT_OK(mdsm_acquire());
        MT_EXPECT_EQ(*cell, round + 1);
        MPI_Barrier(MPI_COMM_WORLD);
    }
    if (writer) {
        MT_EXPECT_OK(mdsm_release()); /* no change: closed */
        mdsm_stats_t a, b;
        MT_EXPECT_OK(mdsm_stats_get(&a));
        *cell = 100;
        MT_EXPECT_OK(mdsm_stats_get(&b));
        MT_EXPECT_OK(mdsm_release());
        if (copy)
            MT_EXPECT_EQ(b.write_faults - a.write_faults, 1);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(*cell, 100);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* Rank 0 keeps its copy writable (written in the last interval), writes
 * word 8 with no release, then takes a lock the home released after writing
 * word 0: the acquire brings the copy up to date in place (one refresh, no
 * fault) and keeps word 8, which the unlock then writes home. */
MT_MDSM_TEST(lock_data, writes_before_the_lock_survive_its_refresh)
{
    int n = mdsm_nranks(), me = mdsm_rank(), copy = 0;
    char *base = NULL;
    volatile int64_t *w = ld_shared_cell(&base, &copy);
    MT_ASSERT(w != NULL);
    int home = n - 1;
    if (me == 0) {
        w[16] = 1;
        MT_EXPECT_OK(mdsm_release()); /* a copy stays writable */
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (me == home && home != 0) {
        MT_EXPECT_OK(mdsm_lock(0));
        w[0] = 5;
        MT_EXPECT_OK(mdsm_unlock(0));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    if (me == 0) {
        w[8] = 7;
        mdsm_stats_t a, b;
        MT_EXPECT_OK(mdsm_stats_get(&a));
        MT_EXPECT_OK(mdsm_lock(0));
        MT_EXPECT_EQ(w[0], home != 0 ? 5 : 0);
        MT_EXPECT_EQ(w[8], 7);
        MT_EXPECT_EQ(w[16], 1);
        MT_EXPECT_OK(mdsm_stats_get(&b));
        MT_EXPECT_OK(mdsm_unlock(0));
        if (copy) {
            MT_EXPECT_EQ(b.pages_refreshed - a.pages_refreshed, 1);
            MT_EXPECT_EQ(b.read_faults - a.read_faults, 0);
            MT_EXPECT_EQ(b.invalidations - a.invalidations, 0);
        }
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(w[0], home != 0 ? 5 : 0);
    MT_EXPECT_EQ(w[8], 7);
    MT_EXPECT_EQ(w[16], 1);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* The home keeps the cell's page writable (it wrote it under the lock in
 * two intervals in a row, 1 then 3), rank 0 writes 2 there under the lock,
 * then the home writes 3 again: its page equals the twin it kept, yet the
 * write must be noticed, and rank 0's next holding of the lock must read 3,
 * not its own 2. */
MT_MDSM_TEST(lock_data, home_writing_back_its_old_value_is_noticed)
{
    int n = mdsm_nranks(), me = mdsm_rank(), copy = 0;
    char *base = NULL;
    volatile int64_t *cell = ld_shared_cell(&base, &copy);
    MT_ASSERT(cell != NULL);
    int home = n - 1;
    /* turns: the home writes 1 and 3, rank 0 writes 2, the home 3, rank 0 reads */
    enum { STEPS = 5 };
    const int writer[STEPS] = {home, home, 0, home, 0};
    const int64_t before[STEPS] = {0, 1, 3, 2, 3}, value[STEPS] = {1, 3, 2, 3, 3};
    for (int step = 0; step < STEPS; step++) {
        if (me == writer[step]) { /* one rank alone: it takes every step */
            MT_EXPECT_OK(mdsm_lock(0));
            MT_EXPECT_EQ(*cell, before[step]);
            *cell = value[step];
            MT_EXPECT_OK(mdsm_unlock(0));
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(*cell, 3);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}

/* Every rank first reads LD_MANY pages homed on the last rank (copies). Then,
 * in turn, each rank locks, checks every page holds the previous holder's
 * stamp, writes its own into each, and unlocks. The next holder misses
 * LD_MANY notices, more than an acquire refreshes: nothing is refreshed, the
 * copies are dropped and each read faults; the values are right. */
MT_MDSM_TEST(lock_data, many_notices_drop_the_copies)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    size_t ps = (size_t)mdsm_page_size(), wpp = ps / sizeof(int64_t);
    MT_ASSERT_OK(dc_node_map_init());
    int home = n - 1;
    size_t total = (size_t)n * LD_MANY, pages[LD_MANY];
    volatile int64_t *base = mdsm_alloc(total * ps);
    MT_ASSERT(base != NULL);
    MT_ASSERT(dc_pages_homed_on(base, total, home, 1, pages, LD_MANY) == LD_MANY);
    int copy = home != me && !dc_shares_home(home);
    /* Copies. The barrier may drop some (the home notices pages it used
     * untracked once another node fetched them): those fault later anyway. */
    for (int k = 0; k < LD_MANY; k++)
        MT_EXPECT_EQ(base[pages[k] * wpp], 0);
    MT_EXPECT_OK(mdsm_barrier());
    for (int turn = 0; turn < n; turn++) {
        if (turn == me) {
            mdsm_stats_t a, b;
            MT_EXPECT_OK(mdsm_stats_get(&a));
            MT_EXPECT_OK(mdsm_lock(0));
            mdsm_stats_t c;
            MT_EXPECT_OK(mdsm_stats_get(&c));
            for (int k = LD_MANY - 1; k >= 0; k--) { /* last first: no prefetch */
                int64_t v = base[pages[k] * wpp];
                MT_EXPECT_EQ(v, (int64_t)turn * 1000);
                base[pages[k] * wpp] = (int64_t)(turn + 1) * 1000;
            }
            MT_EXPECT_OK(mdsm_stats_get(&b));
            MT_EXPECT_OK(mdsm_unlock(0));
            MT_EXPECT_EQ(c.pages_refreshed - a.pages_refreshed, 0);
            if (copy && turn > 0) { /* the last holder wrote all LD_MANY: copies dropped */
                MT_EXPECT_LE(c.invalidations - a.invalidations, LD_MANY);
                MT_EXPECT_EQ(b.read_faults - c.read_faults, LD_MANY);
            }
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    MT_EXPECT_OK(mdsm_barrier());
    for (int k = 0; k < LD_MANY; k++)
        MT_EXPECT_EQ(base[pages[k] * wpp], (int64_t)n * 1000);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)base));
}

/* A holder that only reads what the lock guards sends nothing home: the twin
 * made at its acquire finds no change at its release, so no notice reaches
 * the next holder, whose copy then stays as it was (no refresh, no drop). */
MT_MDSM_TEST(lock_data, a_reading_holder_writes_nothing_home)
{
    int n = mdsm_nranks(), me = mdsm_rank(), copy = 0;
    char *base = NULL;
    volatile int64_t *cell = ld_cell(&base, &copy);
    MT_ASSERT(cell != NULL);
    MT_EXPECT_OK(mdsm_barrier());
    for (int step = 0; step < 3 * n; step++) { /* each rank in turn: write, read, read */
        int turn = step % n, writes = step < n;
        if (turn == me) {
            mdsm_stats_t a, b;
            MT_EXPECT_OK(mdsm_stats_get(&a));
            MT_EXPECT_OK(mdsm_lock(0));
            int64_t v = *cell;
            MT_EXPECT_EQ(v, writes ? (int64_t)step : (int64_t)n);
            if (writes)
                *cell = v + 1;
            MT_EXPECT_OK(mdsm_unlock(0));
            MT_EXPECT_OK(mdsm_stats_get(&b));
            if (!writes)
                MT_EXPECT_EQ(b.diffs - a.diffs, 0);
            if (step >= 2 * n && copy) { /* nobody wrote since this rank's last turn */
                MT_EXPECT_EQ(b.pages_refreshed - a.pages_refreshed, 0);
                MT_EXPECT_EQ(b.invalidations - a.invalidations, 0);
                MT_EXPECT_EQ(b.read_faults - a.read_faults, 0);
            }
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(base));
}
