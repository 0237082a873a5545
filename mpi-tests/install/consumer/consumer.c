/* An outside program built against the installed mdsm: rank 0 writes a
 * pattern into global memory, the barrier publishes it, the other ranks read
 * and check it; then every rank reports into its own slot and rank 0 checks
 * the reports. Prints "consumer: rank R of N OK" and exits 0 when all agree. */
#include <mdsm.h>
#include <stdint.h>
#include <stdio.h>

enum { N = 3000 }; /* 24 KB: several pages, read across page boundaries */

static int64_t pattern(int i)
{
    return (int64_t)i * i + 7;
}

int main(void)
{
    if (mdsm_init(MPI_COMM_WORLD, NULL) != MDSM_OK) {
        fprintf(stderr, "consumer: mdsm_init: %s\n", mdsm_last_error_message());
        return 1;
    }
    int me = mdsm_rank(), n = mdsm_nranks();
    int64_t *a = mdsm_alloc(N * sizeof(int64_t));
    int64_t *slot = mdsm_alloc((size_t)n * sizeof(int64_t));
    long bad = 0;
    if (!a || !slot) {
        fprintf(stderr, "consumer: mdsm_alloc: %s\n", mdsm_last_error_message());
        return 1; /* every rank fails the collective alike */
    }
    if (me == 0)
        for (int i = 0; i < N; i++)
            a[i] = pattern(i);
    mdsm_barrier();
    for (int i = 0; i < N; i++) {
        if (a[i] != pattern(i) && bad++ == 0)
            fprintf(stderr, "consumer: rank %d reads a[%d] = %lld, expected %lld\n", me, i,
                    (long long)a[i], (long long)pattern(i));
    }
    slot[me] = bad == 0 ? 1000 + me : -1;
    mdsm_barrier();
    if (me == 0)
        for (int r = 0; r < n; r++)
            if (slot[r] != 1000 + r) {
                bad++;
                fprintf(stderr, "consumer: rank %d reported %lld\n", r, (long long)slot[r]);
            }
    int ok = bad == 0, all_ok = 0;
    MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    printf("consumer: rank %d of %d %s\n", me, n, all_ok ? "OK" : "FAILED");
    mdsm_free(slot);
    mdsm_free(a);
    return mdsm_finalize() == MDSM_OK && all_ok ? 0 : 1;
}
