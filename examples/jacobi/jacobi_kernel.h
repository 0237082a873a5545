/* The Jacobi kernel shared by examples/jacobi and perf/bench_jacobi, so that
 * the benchmark measures exactly the example's arithmetic. */
#ifndef MDSM_JACOBI_KERNEL_H
#define MDSM_JACOBI_KERNEL_H

#include <stddef.h>

/* Top edge hot, other edges cold, a fixed pseudo-random interior (so that a
 * wrong result cannot hide in a grid that is nearly zero). */
static inline double jacobi_initial_value(size_t i, size_t j, size_t n)
{
    if (i == 0)
        return 1.0;
    if (i == n - 1 || j == 0 || j == n - 1)
        return 0.0;
    return (double)((i * 7919 + j * 104729) % 1000) / 1000.0;
}

/* One step on global rows [lo, hi), leaving the boundary alone. Global row i
 * of dst and src is at (i - base) * n: base is 0 for a whole grid, or the
 * global index of a local array's first row. */
static inline void jacobi_sweep(double *restrict dst, const double *restrict src, size_t n,
                                size_t lo, size_t hi, size_t base)
{
    if (lo < 1)
        lo = 1;
    if (hi > n - 1)
        hi = n - 1;
    for (size_t i = lo; i < hi; i++) {
        double *d = dst + (i - base) * n;
        const double *s = src + (i - base) * n;
        for (size_t j = 1; j + 1 < n; j++)
            d[j] = 0.25 * (s[j - n] + s[j + n] + s[j - 1] + s[j + 1]);
    }
}

#endif
