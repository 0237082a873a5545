/* nbody: time steps of a softened gravitational N-body system in mdsm memory.
 *
 * Positions, velocities and forces live in mdsm memory. The particles are cut
 * into blocks, and the pairs into tiles (block bi x block bj, bi <= bj) dealt
 * round-robin to the ranks. Each step:
 *   1. every rank computes its tiles' pair forces from the shared positions
 *      (Newton's third law: one evaluation per pair, added to both particles)
 *      into a private buffer, then adds the buffer into the shared force array
 *      block by block, each block under its own mdsm lock (lock id = block);
 *   2. a barrier: all forces are complete and visible;
 *   3. every rank integrates its own contiguous range of particles
 *      (semi-implicit Euler) and zeroes their forces;
 *   4. a barrier: the new positions are visible for the next step.
 *
 * Determinism: the order in which ranks take a block's lock changes from run
 * to run, and floating-point addition is not associative, so double forces
 * would differ in the last bits between runs. Each pair's force is therefore
 * rounded once to 64-bit fixed point (FIXED_SCALE) and forces are summed as
 * integers, which is exact in any order. The parallel run and a sequential
 * run of the same steps then produce bit-identical states, and rank 0 checks
 * positions and velocities for equality. Rounding one pair's term costs a
 * relative 1e-11 or so, far below the integrator's error.
 *
 * Usage: nbody [-n particles] [-i steps] [-b block size] [-q]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "example.h"

#define SOFTENING   0.05 /* length below which gravity is smoothed */
#define DT          1e-3
#define FIXED_SCALE 4294967296.0 /* 2^32 */
/* One pair's term is at most 2/(3^1.5 SOFTENING^2) < 154 in size, so a sum of
 * MAX_PARTICLES terms stays below 154 * 2^32 * 2^16 < 2^63. */
#define MAX_PARTICLES 65536

typedef struct options {
    size_t n; /* particles */
    long steps;
    size_t bs; /* particles per block */
    int quiet;
} options_t;

/* The system: 3 coordinates per particle, all in mdsm memory (or private
 * memory for the sequential reference). */
typedef struct system {
    double *pos, *vel;
    int64_t *force; /* sum of fixed-point pair terms; acceleration = force / FIXED_SCALE / n */
} system_t;

static int parse_options(int argc, char **argv, options_t *o)
{
    long n = 1024, bs = 64;
    o->steps = 10;
    o->quiet = 0;
    int c;
    opterr = 0; /* every rank parses: rank 0 alone prints the usage */
    while ((c = getopt(argc, argv, "n:i:b:q")) != -1) {
        switch (c) {
        case 'n':
            if (ex_parse_long(optarg, 2, MAX_PARTICLES, &n))
                return -1;
            break;
        case 'i':
            if (ex_parse_long(optarg, 0, 1L << 20, &o->steps))
                return -1;
            break;
        case 'b':
            if (ex_parse_long(optarg, 1, MAX_PARTICLES, &bs))
                return -1;
            break;
        case 'q': o->quiet = 1; break;
        default: return -1;
        }
    }
    o->n = (size_t)n;
    o->bs = (size_t)bs;
    return optind == argc ? 0 : -1;
}

/* A fixed pseudo-random number in [0, 1) for (particle, coordinate). */
static double unit_random(size_t i, int d)
{
    uint64_t z = (uint64_t)i * 3 + (uint64_t)d + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

/* Particles [lo, hi): random positions in the unit cube, a slow rotation
 * about the cube's centre, no force yet. */
static void init_particles(const system_t *s, size_t lo, size_t hi)
{
    for (size_t i = lo; i < hi; i++) {
        for (int d = 0; d < 3; d++)
            s->pos[3 * i + d] = unit_random(i, d);
        s->vel[3 * i + 0] = -0.5 * (s->pos[3 * i + 1] - 0.5);
        s->vel[3 * i + 1] = 0.5 * (s->pos[3 * i + 0] - 0.5);
        s->vel[3 * i + 2] = 0.0;
        memset(&s->force[3 * i], 0, 3 * sizeof(int64_t));
    }
}

/* Fixed-point pull of particle j on particle i (the pull of i on j is its
 * negation). */
static void pair_term(const double *pos, size_t i, size_t j, int64_t q[3])
{
    double d[3], r2 = SOFTENING * SOFTENING;
    for (int k = 0; k < 3; k++) {
        d[k] = pos[3 * j + k] - pos[3 * i + k];
        r2 += d[k] * d[k];
    }
    double inv = 1.0 / (r2 * sqrt(r2));
    for (int k = 0; k < 3; k++)
        q[k] = llrint(d[k] * inv * FIXED_SCALE);
}

/* Adds the terms of all pairs (i, j), i in block bi, j in block bj, i < j,
 * to acc (3 int64 per particle, indexed like the system). */
static void tile_forces(const double *pos, int64_t *acc, const options_t *o, size_t bi, size_t bj)
{
    size_t ilo = bi * o->bs, ihi = ilo + o->bs < o->n ? ilo + o->bs : o->n;
    size_t jlo = bj * o->bs, jhi = jlo + o->bs < o->n ? jlo + o->bs : o->n;
    for (size_t i = ilo; i < ihi; i++)
        for (size_t j = bi == bj ? i + 1 : jlo; j < jhi; j++) {
            int64_t q[3];
            pair_term(pos, i, j, q);
            for (int k = 0; k < 3; k++) {
                acc[3 * i + k] += q[k];
                acc[3 * j + k] -= q[k];
            }
        }
}

/* Semi-implicit Euler for particles [lo, hi); leaves their forces zeroed for
 * the next step. */
static void integrate(const system_t *s, size_t n, size_t lo, size_t hi)
{
    double per_unit = 1.0 / FIXED_SCALE / (double)n; /* G = 1, each mass 1/n */
    for (size_t i = lo; i < hi; i++)
        for (int k = 0; k < 3; k++) {
            s->vel[3 * i + k] += (double)s->force[3 * i + k] * per_unit * DT;
            s->pos[3 * i + k] += s->vel[3 * i + k] * DT;
            s->force[3 * i + k] = 0;
        }
}

static size_t num_blocks(const options_t *o)
{
    return (o->n + o->bs - 1) / o->bs;
}

/* Step 1 on this rank: its tiles into acc, then acc into the shared forces,
 * one locked block at a time. Ranks start at different blocks so that they do
 * not all queue for the same lock. */
static void accumulate_forces(const system_t *s, int64_t *acc, unsigned char *touched,
                              const options_t *o, int rank, int nranks)
{
    size_t nb = num_blocks(o), t = 0;
    memset(acc, 0, 3 * o->n * sizeof(int64_t));
    memset(touched, 0, nb);
    for (size_t bi = 0; bi < nb; bi++)
        for (size_t bj = bi; bj < nb; bj++, t++)
            if (t % (size_t)nranks == (size_t)rank) {
                tile_forces(s->pos, acc, o, bi, bj);
                touched[bi] = touched[bj] = 1;
            }
    for (size_t k = 0; k < nb; k++) {
        size_t b = (k + (size_t)rank) % nb;
        if (!touched[b])
            continue;
        size_t lo = 3 * b * o->bs, hi = 3 * (b * o->bs + o->bs < o->n ? b * o->bs + o->bs : o->n);
        ex_check(mdsm_lock((int)b), "mdsm_lock");
        for (size_t x = lo; x < hi; x++)
            s->force[x] += acc[x];
        ex_check(mdsm_unlock((int)b), "mdsm_unlock");
    }
}

/* Rank 0: the same steps on one rank in private memory. */
static void reference(const system_t *ref, const options_t *o)
{
    size_t nb = num_blocks(o);
    init_particles(ref, 0, o->n);
    for (long step = 0; step < o->steps; step++) {
        for (size_t bi = 0; bi < nb; bi++)
            for (size_t bj = bi; bj < nb; bj++)
                tile_forces(ref->pos, ref->force, o, bi, bj);
        integrate(ref, o->n, 0, o->n);
    }
}

/* Rank 0: compares the state with the sequential run's; returns 1 if equal. */
static int verify(const system_t *s, const options_t *o)
{
    size_t len = 3 * o->n;
    system_t ref = {ex_private(len * sizeof(double)), ex_private(len * sizeof(double)),
                    ex_private(len * sizeof(int64_t))};
    reference(&ref, o);
    size_t wrong = 0, first = 0;
    double worst = 0.0, kinetic = 0.0;
    for (size_t x = 0; x < len; x++) {
        double dp = fabs(s->pos[x] - ref.pos[x]), dv = fabs(s->vel[x] - ref.vel[x]);
        if (s->pos[x] != ref.pos[x] || s->vel[x] != ref.vel[x]) { /* NaN is unequal too */
            if (wrong++ == 0)
                first = x;
            worst = fmax(worst, fmax(dp, dv));
        }
        kinetic += 0.5 * s->vel[x] * s->vel[x] / (double)o->n;
    }
    printf("nbody: kinetic energy after the steps %.15e\n", kinetic);
    if (wrong == 0)
        printf("nbody: verified (positions and velocities of all %zu particles equal the "
               "sequential run's)\n",
               o->n);
    else
        printf("nbody: FAILED: %zu coordinates differ (max %.3g); first: particle %zu "
               "coordinate %zu: position %.17g want %.17g, velocity %.17g want %.17g\n",
               wrong, worst, first / 3, first % 3, s->pos[first], ref.pos[first], s->vel[first],
               ref.vel[first]);
    free(ref.pos);
    free(ref.vel);
    free(ref.force);
    return wrong == 0;
}

static int run(const options_t *o)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    size_t n = o->n, nb = num_blocks(o);
    size_t lo = (size_t)rank * n / (size_t)nranks, hi = (size_t)(rank + 1) * n / (size_t)nranks;
    system_t s = {ex_alloc(3 * n * sizeof(double)), ex_alloc(3 * n * sizeof(double)),
                  ex_alloc(3 * n * sizeof(int64_t))};
    int64_t *acc = ex_private(3 * n * sizeof(int64_t));
    unsigned char *touched = ex_private(nb);
    init_particles(&s, lo, hi);
    ex_check(mdsm_barrier(), "mdsm_barrier");

    ex_check(mdsm_stats_reset(), "mdsm_stats_reset");
    double t = MPI_Wtime();
    for (long step = 0; step < o->steps; step++) {
        accumulate_forces(&s, acc, touched, o, rank, nranks);
        ex_check(mdsm_barrier(), "mdsm_barrier");
        integrate(&s, n, lo, hi);
        ex_check(mdsm_barrier(), "mdsm_barrier");
    }
    double slowest = ex_max_over_ranks(MPI_Wtime() - t);
    mdsm_stats_t stats;
    ex_check(mdsm_stats_get(&stats), "mdsm_stats_get");

    int ok = 1;
    if (rank == 0) {
        printf("nbody: %zu particles in %zu blocks of %zu, %ld steps, %d ranks\n", n, nb, o->bs,
               o->steps, nranks);
        printf("nbody: steps %.3f s (slowest rank), %.3f ms per step, %.1f M pairs/s\n", slowest,
               o->steps ? slowest * 1e3 / (double)o->steps : 0.0,
               slowest > 0 ? (double)n * (double)(n - 1) / 2 * (double)o->steps / slowest * 1e-6
                           : 0.0);
        ok = verify(&s, o);
    }
    ok = ex_verdict(ok, &stats, "the steps", o->quiet);
    free(acc);
    free(touched);
    ex_check(mdsm_free(s.force), "mdsm_free");
    ex_check(mdsm_free(s.vel), "mdsm_free");
    ex_check(mdsm_free(s.pos), "mdsm_free");
    return ok;
}

int main(int argc, char **argv)
{
    if (ex_init("nbody") != 0)
        return 1;
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return ex_usage(
            "nbody [-n particles (2..%d)] [-i steps (>= 0)] [-b block size (>= 1)] [-q]\n",
            MAX_PARTICLES);
    if (num_blocks(&o) > (size_t)mdsm_num_locks()) { /* one lock per block */
        if (mdsm_rank() == 0)
            fprintf(stderr,
                    "nbody: %zu blocks need %zu locks, MDSM_NUM_LOCKS is %d: raise it "
                    "or the block size (-b)\n",
                    num_blocks(&o), num_blocks(&o), mdsm_num_locks());
        mdsm_finalize();
        return 2;
    }
    return ex_finalize(run(&o));
}
