/* Arrays sized for the whole space but backed only where touched. */
#ifndef MDSM_COMMON_LAZY_H
#define MDSM_COMMON_LAZY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Zero-filled, lazily backed; NULL on failure. Free with munmap. */
static inline void *lazy_array(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    /* Touched sparsely: a transparent huge page would back 2 MiB per touch. */
    madvise(p, bytes, MADV_NOHUGEPAGE);
    return p;
}

/* Zeroes bytes [from, from + len) of a lazy array and gives back the memory
 * of the whole OS pages among them. */
static inline void lazy_zero(void *array, size_t from, size_t len)
{
    uintptr_t os_page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = (uintptr_t)array + from, hi = lo + len;
    uintptr_t in_lo = (lo + os_page - 1) & ~(os_page - 1), in_hi = hi & ~(os_page - 1);
    if (in_lo >= in_hi || madvise((void *)in_lo, in_hi - in_lo, MADV_DONTNEED) != 0) {
        memset((void *)lo, 0, len);
        return;
    }
    memset((void *)lo, 0, in_lo - lo);
    memset((void *)in_hi, 0, hi - in_hi);
}
#endif
