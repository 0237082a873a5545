/* Arrays sized for the whole space but backed only where touched. */
#ifndef MDSM_COMMON_LAZY_H
#define MDSM_COMMON_LAZY_H

#include <stddef.h>
#include <sys/mman.h>

/* Zero-filled, lazily backed; NULL on failure. Free with munmap. */
static inline void *lazy_array(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

#endif
