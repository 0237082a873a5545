/*
 * mt: the MPI test harness. Test bodies are C functions run on every rank;
 * a C++ shim (shim.cc) registers them into Google Test. After each test all
 * ranks agree on the verdict within a bounded time: a failure on any rank
 * fails the test on all ranks, and a rank that hangs or leaves early makes
 * the harness abort the job, naming the test.
 *
 *   MT_TEST(suite, name)       body runs with MPI initialised
 *   MT_MDSM_TEST(suite, name)  body runs between mdsm_init(MPI_COMM_WORLD, NULL)
 *                              and mdsm_finalize()
 *
 * Environment: MT_TIMEOUT (seconds per test body, default 120) and
 * MT_AGREE_TIMEOUT (seconds to agree on the verdict, default 30).
 *
 * Threads: mt_fail, mt_skip and the EXPECT/ASSERT macros may be used from
 * any thread of the body (OpenMP teams, pthreads) while the body runs; every
 * failure is recorded and reported. Off the main thread the report names the
 * thread: "[rank N, thread T] file:line: ..." with T the OpenMP thread number
 * inside a parallel region, "[rank N, thread tid T]" (the kernel's id) on
 * other threads. The body must join its threads before it returns. ASSERT
 * returns from the enclosing function: inside an OpenMP structured block the
 * compiler rejects that (use EXPECT there, or ASSERT in a function the block
 * calls), and an ASSERT that ends one thread's function early must not skip
 * an omp barrier the other threads of the team will wait in.
 */
#ifndef MT_H
#define MT_H

#include <mpi.h>
#include <stdint.h>

#include "mdsm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*mt_body_fn)(void);

enum { MT_FLAG_MDSM = 1 };

void mt_register(const char *suite, const char *name, mt_body_fn fn, const char *file, int line,
                 int flags);

/* Records a failure of the running test on this rank; callable from any thread. */
void mt_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Marks the running test skipped on this rank, with the reason. The verdict
 * is agreed as usual: a failure on any rank wins; otherwise, if any rank
 * skipped, gtest reports the test SKIPPED with the first rank's reason (and
 * the job still passes). Use MT_SKIP, which also returns from the body; skip
 * only for what this machine cannot do (e.g. no hardware counters), and make
 * every rank take the same path so that none waits in a collective. */
void mt_skip(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define MT_SKIP(...)                                                                               \
    do {                                                                                           \
        mt_skip(__FILE__, __LINE__, __VA_ARGS__);                                                  \
        return;                                                                                    \
    } while (0)

/* Rank and size of MPI_COMM_WORLD. */
int mt_rank(void);
int mt_nranks(void);

/* While capturing, failures are collected here instead of failing the test:
 * used to test the assertion macros themselves. mt_capture_end returns the
 * number of captured failures and the text of the first one. */
void mt_capture_begin(void);
int mt_capture_end(const char **first_message);

/* Redirects this rank's stderr into a temporary file until mt_stderr_end,
 * which restores it and returns what was written (malloc'd; free it). */
void mt_stderr_begin(void);
char *mt_stderr_end(void);

#define MT_TEST_FLAGS_(suite, name, flags)                                                         \
    static void mt_body_##suite##_##name(void);                                                    \
    __attribute__((constructor)) static void mt_reg_##suite##_##name(void)                         \
    {                                                                                              \
        mt_register(#suite, #name, mt_body_##suite##_##name, __FILE__, __LINE__, flags);           \
    }                                                                                              \
    static void mt_body_##suite##_##name(void)

#define MT_TEST(suite, name)      MT_TEST_FLAGS_(suite, name, 0)
#define MT_MDSM_TEST(suite, name) MT_TEST_FLAGS_(suite, name, MT_FLAG_MDSM)

/* EXPECT records and goes on; ASSERT records and returns from the body. */
#define MT_RETURN_   return
#define MT_CONTINUE_ (void)0
#define MT_CHECK_(cond, on_fail, ...)                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            mt_fail(__FILE__, __LINE__, __VA_ARGS__);                                              \
            on_fail;                                                                               \
        }                                                                                          \
    } while (0)

#define MT_CMP_(a, op, b, on_fail)                                                                 \
    do {                                                                                           \
        long long mt_a_ = (long long)(a), mt_b_ = (long long)(b);                                  \
        MT_CHECK_(mt_a_ op mt_b_, on_fail, "expected %s %s %s, saw %lld and %lld", #a, #op, #b,    \
                  mt_a_, mt_b_);                                                                   \
    } while (0)

#define MT_RC_(expr, want, on_fail)                                                                \
    do {                                                                                           \
        int mt_rc_ = (expr), mt_want_ = (want);                                                    \
        MT_CHECK_(mt_rc_ == mt_want_, on_fail, "expected %s to return %d (%s), saw %d (%s)",       \
                  #expr, mt_want_, mdsm_strerror(mt_want_), mt_rc_, mdsm_strerror(mt_rc_));        \
    } while (0)

#define MT_EXPECT(cond)          MT_CHECK_(cond, MT_CONTINUE_, "expected %s", #cond)
#define MT_ASSERT(cond)          MT_CHECK_(cond, MT_RETURN_, "expected %s", #cond)
#define MT_EXPECT_EQ(a, b)       MT_CMP_(a, ==, b, MT_CONTINUE_)
#define MT_ASSERT_EQ(a, b)       MT_CMP_(a, ==, b, MT_RETURN_)
#define MT_EXPECT_NE(a, b)       MT_CMP_(a, !=, b, MT_CONTINUE_)
#define MT_EXPECT_LT(a, b)       MT_CMP_(a, <, b, MT_CONTINUE_)
#define MT_EXPECT_LE(a, b)       MT_CMP_(a, <=, b, MT_CONTINUE_)
#define MT_EXPECT_GE(a, b)       MT_CMP_(a, >=, b, MT_CONTINUE_)
#define MT_EXPECT_RC(expr, want) MT_RC_(expr, want, MT_CONTINUE_)
#define MT_ASSERT_RC(expr, want) MT_RC_(expr, want, MT_RETURN_)
#define MT_EXPECT_OK(expr)       MT_RC_(expr, MDSM_OK, MT_CONTINUE_)
#define MT_ASSERT_OK(expr)       MT_RC_(expr, MDSM_OK, MT_RETURN_)

#ifdef __cplusplus
}
#endif

#endif
