/*
 * Bad input: every case in the spec's list and the header returns its own
 * error code (mdsm_last_error() agrees, and there is a message), prints
 * nothing, and loses nothing: a global value written before the error still
 * reads back on every rank, and barriers, locks, alloc and free still work.
 * Segmentation faults outside mdsm memory still kill the process as they
 * would without mdsm.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dsm_check.h"
#include "mt.h"

/* ---- Checking one failing call ------------------------------------------------------- */

static void expect_error_(int rc, int want, const char *call, char *printed, const char *file,
                          int line)
{
    if (rc != want)
        mt_fail(file, line, "%s returned %d (%s), expected %d (%s)", call, rc, mdsm_strerror(rc),
                want, mdsm_strerror(want));
    else if (mdsm_last_error() != want)
        mt_fail(file, line, "after %s mdsm_last_error() is %d (%s), expected %d (%s)", call,
                mdsm_last_error(), mdsm_strerror(mdsm_last_error()), want, mdsm_strerror(want));
    else if (mdsm_last_error_message()[0] == '\0')
        mt_fail(file, line, "after %s mdsm_last_error_message() is empty", call);
    if (printed[0] != '\0')
        mt_fail(file, line, "%s printed '%s' on stderr; bad input must print nothing", call,
                printed);
    free(printed);
}

/* Runs call (an int expression) with stderr captured and checks its status. */
#define EXPECT_ERROR(call, want)                                                                   \
    do {                                                                                           \
        mt_stderr_begin();                                                                         \
        int ee_rc_ = (int)(call);                                                                  \
        char *ee_printed_ = mt_stderr_end();                                                       \
        expect_error_(ee_rc_, (want), #call, ee_printed_, __FILE__, __LINE__);                     \
    } while (0)

/* The same for mdsm_alloc, which returns NULL and sets mdsm_last_error(). */
#define EXPECT_ALLOC_ERROR(bytes, want)                                                            \
    do {                                                                                           \
        mt_stderr_begin();                                                                         \
        void *ea_p_ = mdsm_alloc(bytes);                                                           \
        int ea_rc_ = ea_p_ ? MDSM_OK : mdsm_last_error();                                          \
        char *ea_printed_ = mt_stderr_end();                                                       \
        if (ea_p_)                                                                                 \
            mt_fail(__FILE__, __LINE__, "mdsm_alloc(%s) returned %p, expected NULL", #bytes,       \
                    ea_p_);                                                                        \
        expect_error_(ea_rc_, (want), "mdsm_alloc(" #bytes ")", ea_printed_, __FILE__, __LINE__);  \
    } while (0)

/* ---- Nothing lost ------------------------------------------------------------------------ */

/* One slot per rank, each in a page of its own, written by that rank. */
struct sentinel {
    volatile uint64_t *p;
    size_t stride;
};

static uint64_t sentinel_value(int rank)
{
    return 0x5e471ee100000000ULL + (uint64_t)rank * 0x10001u;
}

static struct sentinel sentinel_make(void)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    long ps = mdsm_page_size();
    struct sentinel s = {mdsm_alloc((size_t)n * (size_t)ps), (size_t)ps / sizeof(uint64_t)};
    MT_EXPECT(s.p != NULL);
    if (s.p)
        s.p[(size_t)me * s.stride] = sentinel_value(me);
    MT_EXPECT_OK(mdsm_barrier());
    return s;
}

/* Collective: after an error, the world is as it was and the library works. */
static void expect_intact_(struct sentinel *s, const char *after, int line)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    int rc = mdsm_barrier();
    if (rc != MDSM_OK)
        mt_fail(__FILE__, line, "after %s mdsm_barrier returned %d (%s)", after, rc,
                mdsm_strerror(rc));
    if (s->p)
        for (int q = 0; q < n; q++) {
            uint64_t v = s->p[(size_t)q * s->stride];
            if (v != sentinel_value(q))
                mt_fail(__FILE__, line,
                        "after %s rank %d's global value (home rank %d) reads %#llx, expected "
                        "%#llx",
                        after, q, dc_home(&s->p[(size_t)q * s->stride]), (unsigned long long)v,
                        (unsigned long long)sentinel_value(q));
        }
    /* A fresh allocation, written by everyone and read by everyone. */
    volatile uint8_t *x = mdsm_alloc((size_t)n);
    if (!dc_all(x != NULL)) {
        mt_fail(__FILE__, line, "after %s mdsm_alloc(%d) failed here or elsewhere: %s", after, n,
                x ? "(elsewhere)" : mdsm_strerror(mdsm_last_error()));
        if (x)
            mdsm_free((void *)x);
        return;
    }
    x[me] = (uint8_t)(0x40 + me);
    if ((rc = mdsm_lock(me % mdsm_num_locks())) != MDSM_OK)
        mt_fail(__FILE__, line, "after %s mdsm_lock returned %d (%s)", after, rc,
                mdsm_strerror(rc));
    else if ((rc = mdsm_unlock(me % mdsm_num_locks())) != MDSM_OK)
        mt_fail(__FILE__, line, "after %s mdsm_unlock returned %d (%s)", after, rc,
                mdsm_strerror(rc));
    MT_EXPECT_OK(mdsm_barrier());
    for (int q = 0; q < n; q++)
        if (x[q] != (uint8_t)(0x40 + q))
            mt_fail(__FILE__, line, "after %s a fresh allocation's byte %d reads %#x, expected %#x",
                    after, q, x[q], 0x40 + q);
    MT_EXPECT_OK(mdsm_barrier());
    if ((rc = mdsm_free((void *)x)) != MDSM_OK)
        mt_fail(__FILE__, line, "after %s mdsm_free returned %d (%s)", after, rc,
                mdsm_strerror(rc));
}
#define EXPECT_INTACT(s, after) expect_intact_((s), (after), __LINE__)

/* ---- Calls outside a session ---------------------------------------------------------------- */

static void every_call_not_initialized(void)
{
    int64_t local = 5, old = 9;
    int stack_var = 0;
    mdsm_stats_t st;
    memset(&st, 0x7f, sizeof(st));
    MT_EXPECT_EQ(mdsm_initialized(), 0);
    EXPECT_ERROR(mdsm_finalize(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_rank(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_nranks(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ALLOC_ERROR(4096, MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_free(&stack_var), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_free(NULL), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_home_of(&stack_var), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_page_size(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_num_locks(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_lock(0), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_unlock(0), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_barrier(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_acquire(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_release(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_fetch_add(&local, 1, &old), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_cas(&local, 5, 6, &old), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_prefetch(&local, sizeof(local)), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT_EQ(local, 5); /* nothing was done... */
    MT_EXPECT_EQ(old, 9);   /* ...and no output parameter written */
    EXPECT_ERROR(mdsm_stats_get(&st), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_stats_reset(), MDSM_ERR_NOT_INITIALIZED);
    EXPECT_ERROR(mdsm_stats_print(), MDSM_ERR_NOT_INITIALIZED);
    MT_EXPECT_EQ(mdsm_initialized(), 0);
}

MT_TEST(bad_input, every_call_before_init)
{
    every_call_not_initialized();
}

MT_TEST(bad_input, every_call_after_finalize)
{
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    void *p = mdsm_alloc(4096);
    MT_EXPECT(p != NULL);
    MT_ASSERT_OK(mdsm_finalize());
    every_call_not_initialized();
    /* And a new session starts clean. */
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    struct sentinel s = sentinel_make();
    EXPECT_INTACT(&s, "a new session");
    MT_EXPECT_OK(mdsm_finalize());
}

MT_MDSM_TEST(bad_input, init_twice)
{
    struct sentinel s = sentinel_make();
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.num_locks = 3;
    EXPECT_ERROR(mdsm_init(MPI_COMM_WORLD, NULL), MDSM_ERR_ALREADY_INITIALIZED);
    EXPECT_ERROR(mdsm_init(MPI_COMM_WORLD, &cfg), MDSM_ERR_ALREADY_INITIALIZED);
    MT_EXPECT_EQ(mdsm_num_locks(), 1024); /* the rejected config did not apply */
    MT_EXPECT_EQ(mdsm_nranks(), mt_nranks());
    EXPECT_INTACT(&s, "mdsm_init twice");
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* ---- Locks ------------------------------------------------------------------------------------
 */

MT_MDSM_TEST(bad_input, lock_id_out_of_range)
{
    struct sentinel s = sentinel_make();
    int nl = mdsm_num_locks();
    MT_EXPECT_GE(nl, 1);
    EXPECT_ERROR(mdsm_lock(-1), MDSM_ERR_LOCK_ID);
    EXPECT_ERROR(mdsm_lock(nl), MDSM_ERR_LOCK_ID);
    EXPECT_ERROR(mdsm_lock(INT_MAX), MDSM_ERR_LOCK_ID);
    EXPECT_ERROR(mdsm_lock(INT_MIN), MDSM_ERR_LOCK_ID);
    EXPECT_ERROR(mdsm_unlock(-1), MDSM_ERR_LOCK_ID);
    EXPECT_ERROR(mdsm_unlock(nl), MDSM_ERR_LOCK_ID);
    EXPECT_INTACT(&s, "lock ids out of range");
    /* The ids at the edges are fine. */
    MT_EXPECT_OK(mdsm_lock(nl - 1));
    MT_EXPECT_OK(mdsm_unlock(nl - 1));
    MT_EXPECT_OK(mdsm_lock(0));
    MT_EXPECT_OK(mdsm_unlock(0));
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* With num_locks set in code, the range follows it. */
MT_TEST(bad_input, lock_id_range_follows_config)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.num_locks = 5;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    MT_EXPECT_EQ(mdsm_num_locks(), 5);
    struct sentinel s = sentinel_make();
    EXPECT_ERROR(mdsm_lock(5), MDSM_ERR_LOCK_ID);
    EXPECT_ERROR(mdsm_unlock(5), MDSM_ERR_LOCK_ID);
    MT_EXPECT_OK(mdsm_lock(4));
    MT_EXPECT_OK(mdsm_unlock(4));
    EXPECT_INTACT(&s, "lock id 5 of 5");
    MT_EXPECT_OK(mdsm_free((void *)s.p));
    MT_EXPECT_OK(mdsm_finalize());
}

/* Locking a held lock fails and the lock stays held: the critical section it
 * protects still excludes the other ranks. */
MT_MDSM_TEST(bad_input, lock_already_held)
{
    int n = mdsm_nranks();
    struct sentinel s = sentinel_make();
    volatile int64_t *counter = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(counter != NULL);
    for (int i = 0; i < 20; i++) {
        int rc = mdsm_lock(3);
        MT_EXPECT_RC(rc, MDSM_OK);
        if (rc != MDSM_OK)
            break;
        int64_t v = *counter;
        EXPECT_ERROR(mdsm_lock(3), MDSM_ERR_LOCK_HELD);
        *counter = v + 1;
        MT_EXPECT_OK(mdsm_unlock(3));
        EXPECT_ERROR(mdsm_unlock(3), MDSM_ERR_NOT_LOCK_HOLDER);
    }
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_EQ(*counter, 20 * n);
    EXPECT_INTACT(&s, "locking a held lock");
    MT_EXPECT_OK(mdsm_free((void *)counter));
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* Unlocking a lock never taken, and a lock another rank holds, fails and
 * leaves the holder holding it. */
MT_MDSM_TEST(bad_input, unlock_not_held)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    struct sentinel s = sentinel_make();
    volatile int64_t *cell = mdsm_alloc(sizeof(int64_t));
    MT_ASSERT(cell != NULL);
    EXPECT_ERROR(mdsm_unlock(7), MDSM_ERR_NOT_LOCK_HOLDER);
    EXPECT_INTACT(&s, "unlocking a lock nobody holds");

    if (me == 0) {
        MT_EXPECT_OK(mdsm_lock(7));
        *cell = 1;
    }
    MPI_Barrier(MPI_COMM_WORLD); /* rank 0 holds lock 7 now */
    if (me != 0)
        EXPECT_ERROR(mdsm_unlock(7), MDSM_ERR_NOT_LOCK_HOLDER);
    MPI_Barrier(MPI_COMM_WORLD);
    if (me == 0) {
        *cell = 2; /* still the holder: its writes are published by its unlock */
        MT_EXPECT_OK(mdsm_unlock(7));
    }
    MPI_Barrier(MPI_COMM_WORLD);
    int rc = mdsm_lock(7);
    MT_EXPECT_RC(rc, MDSM_OK);
    if (rc == MDSM_OK) {
        if (*cell < 2 || *cell > 1 + n)
            mt_fail(__FILE__, __LINE__, "under lock 7 the cell reads %lld, expected 2..%d",
                    (long long)*cell, 1 + n);
        *cell += 1;
        MT_EXPECT_OK(mdsm_unlock(7));
    }
    EXPECT_INTACT(&s, "unlocking another rank's lock");
    MT_EXPECT_EQ(*cell, 2 + n);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)cell));
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* ---- Free ---------------------------------------------------------------------------------------
 */

MT_MDSM_TEST(bad_input, free_of_a_non_allocation)
{
    long ps = mdsm_page_size();
    struct sentinel s = sentinel_make();
    int stack_var = 0;
    char *heap = malloc(64);
    volatile uint8_t *p = mdsm_alloc(3 * (size_t)ps);
    MT_ASSERT(p != NULL && heap != NULL);
    if (mdsm_rank() == 0)
        p[ps + 5] = 0x77;
    MT_EXPECT_OK(mdsm_barrier());

    EXPECT_ERROR(mdsm_free(&stack_var), MDSM_ERR_NOT_ALLOCATION);
    EXPECT_ERROR(mdsm_free(heap), MDSM_ERR_NOT_ALLOCATION);
    EXPECT_ERROR(mdsm_free(NULL), MDSM_ERR_NOT_ALLOCATION);
    EXPECT_ERROR(mdsm_free((void *)(p + 1)), MDSM_ERR_NOT_ALLOCATION);
    EXPECT_ERROR(mdsm_free((void *)(p + ps)), MDSM_ERR_NOT_ALLOCATION);
    EXPECT_ERROR(mdsm_free((void *)(s.p + 1)), MDSM_ERR_NOT_ALLOCATION);
    EXPECT_INTACT(&s, "freeing non-allocations");
    /* Nothing was freed: p is still live, with its contents. */
    MT_EXPECT(mdsm_home_of((const void *)p) >= 0);
    MT_EXPECT_EQ(p[ps + 5], 0x77);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)p));
    /* Double free. */
    EXPECT_ERROR(mdsm_free((void *)p), MDSM_ERR_NOT_ALLOCATION);
    EXPECT_ERROR(mdsm_home_of((const void *)p), MDSM_ERR_NOT_GLOBAL);
    EXPECT_INTACT(&s, "a double free");
    free(heap);
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* Ranks passing different pointers: nothing is freed anywhere. */
MT_MDSM_TEST(bad_input, free_mismatch)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    if (n < 2)
        return; /* one rank cannot disagree with itself */
    struct sentinel s = sentinel_make();
    volatile uint64_t *a = mdsm_alloc(64), *b = mdsm_alloc(64);
    MT_ASSERT(a != NULL && b != NULL);
    if (me == 0) {
        a[0] = 0xaa;
        b[0] = 0xbb;
    }
    MT_EXPECT_OK(mdsm_barrier());
    EXPECT_ERROR(mdsm_free(me == 0 ? (void *)a : (void *)b), MDSM_ERR_MISMATCH);
    EXPECT_INTACT(&s, "mdsm_free with different pointers");
    MT_EXPECT_EQ(a[0], 0xaa);
    MT_EXPECT_EQ(b[0], 0xbb);
    MT_EXPECT(mdsm_home_of((const void *)a) >= 0 && mdsm_home_of((const void *)b) >= 0);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)a));
    MT_EXPECT_OK(mdsm_free((void *)b));
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* ---- Alloc --------------------------------------------------------------------------------------
 */

MT_MDSM_TEST(bad_input, alloc_zero)
{
    struct sentinel s = sentinel_make();
    EXPECT_ALLOC_ERROR(0, MDSM_ERR_INVALID_ARG);
    EXPECT_INTACT(&s, "mdsm_alloc(0)");
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

enum { SPACE = 16 << 20 };

/* The space is set to 16M in code, so "more than the space" is known exactly. */
MT_TEST(bad_input, alloc_beyond_the_space)
{
    mdsm_config_t cfg;
    MT_ASSERT_OK(mdsm_config_init(&cfg));
    cfg.space_size = SPACE;
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, &cfg));
    struct sentinel s = sentinel_make();
    EXPECT_ALLOC_ERROR((size_t)SPACE + 1, MDSM_ERR_OUT_OF_SPACE);
    EXPECT_ALLOC_ERROR((size_t)2 * SPACE, MDSM_ERR_OUT_OF_SPACE);
    EXPECT_ALLOC_ERROR(SIZE_MAX, MDSM_ERR_OUT_OF_SPACE);
    EXPECT_ALLOC_ERROR(SIZE_MAX / 2 + 1, MDSM_ERR_OUT_OF_SPACE);
    EXPECT_INTACT(&s, "allocations beyond the space");

    /* Half the space is taken; asking for 5/8 of it fails, and leaves the half intact. */
    volatile uint8_t *half = mdsm_alloc(SPACE / 2);
    MT_ASSERT(half != NULL);
    if (mdsm_rank() == 0)
        half[SPACE / 2 - 1] = 0x42;
    MT_EXPECT_OK(mdsm_barrier());
    EXPECT_ALLOC_ERROR((size_t)SPACE / 8 * 5, MDSM_ERR_OUT_OF_SPACE);
    EXPECT_INTACT(&s, "an allocation beyond what is left");
    MT_EXPECT_EQ(half[SPACE / 2 - 1], 0x42);
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free((void *)half));
    /* Freed space is usable again. */
    void *big = mdsm_alloc((size_t)SPACE / 8 * 5);
    MT_EXPECT(big != NULL);
    if (big)
        MT_EXPECT_OK(mdsm_free(big));
    MT_EXPECT_OK(mdsm_free((void *)s.p));
    MT_EXPECT_OK(mdsm_finalize());
}

MT_MDSM_TEST(bad_input, alloc_size_mismatch)
{
    int n = mdsm_nranks(), me = mdsm_rank();
    if (n < 2)
        return;
    struct sentinel s = sentinel_make();
    EXPECT_ALLOC_ERROR(me == 0 ? (size_t)4096 : (size_t)8192, MDSM_ERR_MISMATCH);
    EXPECT_ALLOC_ERROR(me == n - 1 ? (size_t)1 : (size_t)2, MDSM_ERR_MISMATCH);
    EXPECT_INTACT(&s, "mdsm_alloc with different sizes");
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* ---- Atomics ------------------------------------------------------------------------------------
 */

MT_MDSM_TEST(bad_input, atomics_on_non_global_addresses)
{
    long ps = mdsm_page_size();
    struct sentinel s = sentinel_make();
    int64_t local = 11, old = 99;
    int64_t *heap = malloc(sizeof(int64_t));
    MT_ASSERT(heap != NULL);
    *heap = 12;
    EXPECT_ERROR(mdsm_fetch_add(&local, 1, &old), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_fetch_add(&local, 1, NULL), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_cas(&local, 11, 0, &old), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_fetch_add(heap, 1, &old), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_cas(heap, 12, 0, &old), MDSM_ERR_NOT_GLOBAL);
    MT_EXPECT_EQ(local, 11);
    MT_EXPECT_EQ(*heap, 12);
    MT_EXPECT_EQ(old, 99);
    /* A freed allocation is no longer global memory. */
    int64_t *gone = mdsm_alloc((size_t)ps);
    MT_ASSERT(gone != NULL);
    MT_EXPECT_OK(mdsm_free(gone));
    EXPECT_ERROR(mdsm_fetch_add(gone, 1, &old), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_cas(gone, 0, 1, &old), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_home_of(&local), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_home_of(NULL), MDSM_ERR_NOT_GLOBAL);
    MT_EXPECT_EQ(old, 99);
    EXPECT_INTACT(&s, "atomics on non-global addresses");
    free(heap);
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* A prefetch hint on a range that is not wholly in live allocations fetches
 * nothing: a stack variable, NULL, a freed allocation, a range running past
 * an allocation's end or wrapping around the address space. */
MT_MDSM_TEST(bad_input, prefetch_outside_global_memory)
{
    size_t ps = (size_t)mdsm_page_size();
    struct sentinel s = sentinel_make();
    int64_t local = 11;
    char *x = mdsm_alloc(2 * ps), *gone = mdsm_alloc(ps);
    MT_ASSERT(x != NULL && gone != NULL);
    MT_EXPECT_OK(mdsm_free(gone));
    mdsm_stats_t a, b;
    MT_EXPECT_OK(mdsm_stats_get(&a));
    EXPECT_ERROR(mdsm_prefetch(&local, sizeof(local)), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_prefetch(NULL, 1), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_prefetch(gone, ps), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_prefetch(x, SIZE_MAX), MDSM_ERR_NOT_GLOBAL);
    EXPECT_ERROR(mdsm_prefetch(x + ps, (size_t)-1 - (uintptr_t)(x + ps) + 2), MDSM_ERR_NOT_GLOBAL);
    if (mdsm_home_of(x + 2 * ps) < 0) /* nothing allocated after x */
        EXPECT_ERROR(mdsm_prefetch(x, 2 * ps + 1), MDSM_ERR_NOT_GLOBAL);
    MT_EXPECT_OK(mdsm_prefetch(NULL, 0)); /* nothing to do */
    MT_EXPECT_OK(mdsm_stats_get(&b));
    MT_EXPECT_EQ(b.pages_fetched, a.pages_fetched);
    MT_EXPECT_EQ(b.pages_prefetched, a.pages_prefetched);
    MT_EXPECT_OK(mdsm_prefetch(x, 2 * ps)); /* the whole allocation is fine */
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(x));
    EXPECT_INTACT(&s, "prefetch hints outside global memory");
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

MT_MDSM_TEST(bad_input, atomics_misaligned)
{
    struct sentinel s = sentinel_make();
    int64_t *cell = mdsm_alloc(64);
    MT_ASSERT(cell != NULL);
    int64_t old = 99;
    for (int off = 1; off < 8; off++) {
        int64_t *bad = (int64_t *)(void *)((char *)cell + off);
        EXPECT_ERROR(mdsm_fetch_add(bad, 1, &old), MDSM_ERR_ALIGNMENT);
        EXPECT_ERROR(mdsm_cas(bad, 0, 1, &old), MDSM_ERR_ALIGNMENT);
    }
    MT_EXPECT_EQ(old, 99);
    MT_EXPECT_OK(mdsm_barrier());
    int64_t v = -1;
    MT_EXPECT_OK(mdsm_fetch_add(&cell[0], 0, &v)); /* nothing was added */
    MT_EXPECT_EQ(v, 0);
    MT_EXPECT_OK(mdsm_fetch_add(&cell[1], 0, &v));
    MT_EXPECT_EQ(v, 0);
    EXPECT_INTACT(&s, "misaligned atomics");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(cell));
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* NULL where a pointer is required is an invalid argument, not a crash. */
MT_MDSM_TEST(bad_input, null_output_arguments)
{
    struct sentinel s = sentinel_make();
    int64_t *cell = mdsm_alloc(64);
    MT_ASSERT(cell != NULL);
    EXPECT_ERROR(mdsm_cas(cell, 0, 1, NULL), MDSM_ERR_INVALID_ARG);
    EXPECT_ERROR(mdsm_stats_get(NULL), MDSM_ERR_INVALID_ARG);
    MT_EXPECT_OK(mdsm_barrier());
    int64_t v = -1;
    MT_EXPECT_OK(mdsm_fetch_add(cell, 0, &v)); /* the failed cas did not swap */
    MT_EXPECT_EQ(v, 0);
    EXPECT_INTACT(&s, "NULL output arguments");
    MT_EXPECT_OK(mdsm_barrier());
    MT_EXPECT_OK(mdsm_free(cell));
    MT_EXPECT_OK(mdsm_free((void *)s.p));
}

/* ---- Segmentation faults outside mdsm memory --------------------------------------------------
 */

/* Forks a child that reads *addr (and must die of it) and returns its wait
 * status, or -1 if it could not be run or did not end in time (then killed).
 * The child makes no MPI or mdsm call and leaves by _exit on any path. */
static int crash_child(volatile const int *addr, const char *what)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        mt_fail(__FILE__, __LINE__, "fork for %s failed", what);
        return -1;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) /* MPI's or a sanitizer's crash report is expected noise */
            dup2(devnull, STDERR_FILENO);
        int v = *addr;
        _exit(v == 12345 ? 98 : 99); /* reached only if the access did not fault */
    }
    char name[160];
    snprintf(name, sizeof(name), "the child doing %s", what);
    return dc_wait_child(pid, name);
}

static void describe(int status, char *buf, size_t size)
{
    if (status == -1)
        snprintf(buf, size, "no status");
    else if (WIFSIGNALED(status))
        snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
    else
        snprintf(buf, size, "wait status %#x", status);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* The child's end must be the one a child forked without mdsm had (baseline)
 * and, outside sanitizer builds (whose handler exits instead), SIGSEGV. */
static void expect_segv_like(int status, int baseline, const char *what)
{
    char got[96], base[96];
    describe(status, got, sizeof(got));
    describe(baseline, base, sizeof(base));
    if (status != baseline)
        mt_fail(__FILE__, __LINE__, "%s: the child ended with %s, without mdsm it ended with %s",
                what, got, base);
    if (!UNDER_ASAN && !(status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV))
        mt_fail(__FILE__, __LINE__, "%s: the child ended with %s, expected SIGSEGV", what, got);
}

MT_TEST(bad_input, segfault_outside_mdsm_memory_still_kills)
{
    volatile const int *wild = (volatile const int *)16;
    int baseline = crash_child(wild, "a read of address 16 before mdsm_init");
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    int status = crash_child(wild, "a read of address 16 while mdsm is running");
    expect_segv_like(status, baseline, "read of address 16 with mdsm running");

    /* Reserved but no longer allocated global memory is not mdsm memory either. */
    long ps = mdsm_page_size();
    volatile int *p = mdsm_alloc(4 * (size_t)ps);
    MT_EXPECT(p != NULL);
    if (p) {
        p[0] = 1; /* touch it, so that the pages were mapped at some point */
        MT_EXPECT_OK(mdsm_barrier());
        MT_EXPECT_OK(mdsm_free((void *)p));
        MT_EXPECT_RC(mdsm_home_of((const void *)p), MDSM_ERR_NOT_GLOBAL);
        status = crash_child(p, "a read of a freed allocation");
        expect_segv_like(status, baseline, "read of a freed global allocation");
        status = crash_child(p + ps / (long)sizeof(int) * 3 + 1,
                             "a read inside the last page of a freed allocation");
        expect_segv_like(status, baseline, "read inside a freed global allocation");
    }
    MT_EXPECT_OK(mdsm_finalize());
}

/* An application's own SIGSEGV handler, installed before mdsm_init, is the
 * one that runs for faults outside mdsm memory, during the session and after
 * mdsm_finalize (mdsm's handler stays, to name stale accesses, and passes
 * every other fault on). */
static void app_handler(int sig, siginfo_t *info, void *ctx)
{
    (void)sig;
    (void)info;
    (void)ctx;
    _exit(42);
}

MT_TEST(bad_input, segfault_reaches_the_applications_handler)
{
    struct sigaction app, saved;
    memset(&app, 0, sizeof(app));
    app.sa_sigaction = app_handler;
    app.sa_flags = SA_SIGINFO;
    sigemptyset(&app.sa_mask);
    MT_ASSERT(sigaction(SIGSEGV, &app, &saved) == 0);
    volatile const int *wild = (volatile const int *)16;
    int baseline = crash_child(wild, "a read of address 16 under the application's handler");
    int rc = mdsm_init(MPI_COMM_WORLD, NULL);
    MT_EXPECT_RC(rc, MDSM_OK);
    if (rc == MDSM_OK) {
        int status = crash_child(wild, "a read of address 16 with mdsm running");
        char got[96];
        describe(status, got, sizeof(got));
        if (status != baseline || !WIFEXITED(status) || WEXITSTATUS(status) != 42)
            mt_fail(__FILE__, __LINE__,
                    "with mdsm running, a fault at address 16 ended the child with %s; the "
                    "application's handler exits with 42",
                    got);
        MT_EXPECT_OK(mdsm_finalize());
        status = crash_child(wild, "a read of address 16 after mdsm_finalize");
        describe(status, got, sizeof(got));
        if (status != baseline || !WIFEXITED(status) || WEXITSTATUS(status) != 42)
            mt_fail(__FILE__, __LINE__,
                    "after mdsm_finalize, a fault at address 16 ended the child with %s; the "
                    "application's handler exits with 42",
                    got);
    }
    /* The application's handler is kept through another session too. */
    MT_ASSERT_OK(mdsm_init(MPI_COMM_WORLD, NULL));
    int status = crash_child(wild, "a read of address 16 in a second session");
    MT_EXPECT_EQ(status, baseline);
    MT_EXPECT_OK(mdsm_finalize());
    sigaction(SIGSEGV, &saved, NULL);
}
