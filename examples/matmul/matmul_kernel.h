/* The matmul kernel shared by examples/matmul and perf/bench_matmul, so that
 * the benchmark measures exactly the example's arithmetic. */
#ifndef MDSM_MATMUL_KERNEL_H
#define MDSM_MATMUL_KERNEL_H

#include <stddef.h>
#include <string.h>

/* Integers in [-5, 5] and [-6, 6]: |C| <= 30 n, exact in double for any n
 * accepted here. */
static inline double a_value(size_t i, size_t k)
{
    return (double)((long)((i * 3 + k * 7) % 11) - 5);
}

static inline double b_value(size_t k, size_t j)
{
    return (double)((long)((k * 5 + j * 3 + k * j) % 13) - 6);
}

static inline void fill_rows(double *a, double *b, size_t n, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++)
        for (size_t j = 0; j < n; j++) {
            a[i * n + j] = a_value(i, j);
            b[i * n + j] = b_value(i, j);
        }
}

/* Rows [lo, hi) of c = a * b, in i-k-j order so that the inner loop runs
 * along rows of b and c. */
static inline void multiply_rows(double *restrict c, const double *restrict a,
                                 const double *restrict b, size_t n, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        double *ci = c + i * n;
        memset(ci, 0, n * sizeof(double));
        for (size_t k = 0; k < n; k++) {
            double aik = a[i * n + k];
            const double *bk = b + k * n;
            for (size_t j = 0; j < n; j++)
                ci[j] += aik * bk[j];
        }
    }
}

#endif
