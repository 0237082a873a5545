/* taskqueue: a dynamic task queue in mdsm memory, computing a Mandelbrot
 * image by Mariani-Silver subdivision.
 *
 * The queue (head, tail, pending count, task records) sits in mdsm memory
 * under one mdsm lock. It starts with the image cut into square tiles. A rank
 * pops a tile and computes the escape count of each pixel on its border; if
 * they are all equal it fills the interior with that count, otherwise it
 * pushes the interior's four quarters as follow-up tasks; small tiles are
 * computed pixel by pixel. Cost is very irregular: a tile inside the set
 * costs its border times the iteration limit, a tile on the set's edge every
 * pixel at up to the limit, a tile far outside almost nothing. Pixels go
 * straight into a shared image in mdsm memory; tasks of different ranks
 * write different pixels of the same pages. A rank stops when the queue is
 * empty and no task is in progress anywhere (the pending count is zero).
 *
 * Verification on rank 0: every task id in [0, tail) ran exactly once (each
 * rank counts the ids it ran, summed with MPI_Reduce), the queue ended empty,
 * and the image and the number of tasks equal a sequential run of the same
 * algorithm. A tile's work depends only on the tile, so the result does not
 * depend on which rank ran which task or in what order.
 *
 * Usage: taskqueue [-n image side] [-i iteration limit] [-t initial tile side] [-q]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "example.h"

#define QUEUE_LOCK 0
#define LEAF_SIDE  16 /* tiles this thin or thinner are computed pixel by pixel */

typedef struct options {
    int n;        /* image is n x n pixels */
    int max_iter; /* escape iteration limit */
    int tile;     /* side of the initial tiles */
    int quiet;
} options_t;

typedef struct task {
    int32_t x, y, w, h; /* a tile of the image */
} task_t;

/* Tasks are never overwritten: task id = index, so ids can be checked. */
typedef struct queue {
    int64_t head, tail; /* tasks [head, tail) wait to be taken */
    int64_t pending;    /* tasks pushed and not yet finished */
    int64_t capacity;
    task_t tasks[];
} queue_t;

/* What one rank did. */
typedef struct work {
    int64_t tasks, pixels, iterations;
} work_t;

static int parse_options(int argc, char **argv, options_t *o)
{
    long n = 512, iters = 1000, tile = 64;
    o->quiet = 0;
    int c;
    opterr = 0; /* every rank parses: rank 0 alone prints the usage */
    while ((c = getopt(argc, argv, "n:i:t:q")) != -1) {
        switch (c) {
        case 'n':
            if (ex_parse_long(optarg, 1, 1L << 15, &n))
                return -1;
            break;
        case 'i':
            if (ex_parse_long(optarg, 1, 1L << 24, &iters))
                return -1;
            break;
        case 't':
            if (ex_parse_long(optarg, 1, 1L << 15, &tile))
                return -1;
            break;
        case 'q': o->quiet = 1; break;
        default: return -1;
        }
    }
    o->n = (int)n;
    o->max_iter = (int)iters;
    o->tile = (int)tile;
    return optind == argc ? 0 : -1;
}

/* Escape count of pixel (px, py) over [-2.0, 0.6] x [-1.3, 1.3]. */
static int32_t escape_count(const options_t *o, int px, int py, work_t *w)
{
    double cr = -2.0 + 2.6 * (px + 0.5) / o->n, ci = -1.3 + 2.6 * (py + 0.5) / o->n;
    double zr = 0.0, zi = 0.0;
    int32_t it = 0;
    while (it < o->max_iter && zr * zr + zi * zi <= 4.0) {
        double t = zr * zr - zi * zi + cr;
        zi = 2.0 * zr * zi + ci;
        zr = t;
        it++;
    }
    w->pixels++;
    w->iterations += it;
    return it;
}

static int is_leaf(const task_t *t)
{
    return t->w <= LEAF_SIDE || t->h <= LEAF_SIDE;
}

/* The interior's quarters, each at least (LEAF_SIDE - 1) / 2 wide and high. */
static void quarters(const task_t *t, task_t q[4])
{
    int32_t w1 = (t->w - 2) / 2, h1 = (t->h - 2) / 2;
    int32_t xs[2] = {t->x + 1, t->x + 1 + w1}, ws[2] = {w1, t->w - 2 - w1};
    int32_t ys[2] = {t->y + 1, t->y + 1 + h1}, hs[2] = {h1, t->h - 2 - h1};
    for (int k = 0; k < 4; k++)
        q[k] = (task_t){xs[k & 1], ys[k >> 1], ws[k & 1], hs[k >> 1]};
}

/* Runs task t, writing its pixels into img; returns the number of follow-up
 * tasks put in kids (0 or 4). */
static int run_task(const options_t *o, const task_t *t, int32_t *img, task_t kids[4], work_t *w)
{
    int32_t x1 = t->x + t->w - 1, y1 = t->y + t->h - 1;
    if (is_leaf(t)) {
        for (int y = t->y; y <= y1; y++)
            for (int x = t->x; x <= x1; x++)
                img[(size_t)y * (size_t)o->n + (size_t)x] = escape_count(o, x, y, w);
        return 0;
    }
    int32_t first = 0;
    int uniform = 1;
    for (int y = t->y; y <= y1; y++)
        for (int x = t->x; x <= x1; x += (y == t->y || y == y1) ? 1 : t->w - 1) {
            int32_t e = escape_count(o, x, y, w);
            img[(size_t)y * (size_t)o->n + (size_t)x] = e;
            if (x == t->x && y == t->y)
                first = e;
            uniform &= e == first;
        }
    if (!uniform) {
        quarters(t, kids);
        return 4;
    }
    for (int y = t->y + 1; y < y1; y++)
        for (int x = t->x + 1; x < x1; x++)
            img[(size_t)y * (size_t)o->n + (size_t)x] = first;
    return 0;
}

/* The initial tiles, in row-major order; returns how many (tasks may be NULL). */
static int64_t initial_tasks(const options_t *o, task_t *tasks)
{
    int64_t k = 0;
    for (int y = 0; y < o->n; y += o->tile)
        for (int x = 0; x < o->n; x += o->tile, k++)
            if (tasks)
                tasks[k] = (task_t){x, y, o->tile < o->n - x ? o->tile : o->n - x,
                                    o->tile < o->n - y ? o->tile : o->n - y};
    return k;
}

/* Tasks t and its descendants would make if every tile were subdivided. */
static int64_t most_tasks(const task_t *t)
{
    if (is_leaf(t))
        return 1;
    task_t q[4];
    quarters(t, q);
    int64_t k = 1;
    for (int i = 0; i < 4; i++)
        k += most_tasks(&q[i]);
    return k;
}

static int64_t queue_capacity(const task_t *init, int64_t ninit)
{
    int64_t cap = 0;
    for (int64_t k = 0; k < ninit; k++)
        cap += most_tasks(&init[k]);
    return cap;
}

/* One critical section per task: appends the kids of the task this rank
 * just finished and counts it done (if done), then takes the next task into
 * *t and its id into *id. Returns 1 if it took one; otherwise *pending says
 * how many tasks are still running elsewhere. */
static int trade(queue_t *q, int done, const task_t *kids, int nkids, task_t *t, int64_t *id,
                 int64_t *pending)
{
    ex_check(mdsm_lock(QUEUE_LOCK), "mdsm_lock");
    if (done) {
        if (q->tail + nkids > q->capacity) {
            fprintf(stderr, "taskqueue: queue overflow (capacity %lld): a bug in the bound\n",
                    (long long)q->capacity);
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        memcpy(&q->tasks[q->tail], kids, (size_t)nkids * sizeof(task_t));
        q->tail += nkids;
        q->pending += nkids - 1;
    }
    int took = q->head < q->tail;
    if (took) {
        *t = q->tasks[q->head];
        *id = q->head++;
    }
    *pending = q->pending;
    ex_check(mdsm_unlock(QUEUE_LOCK), "mdsm_unlock");
    return took;
}

/* This rank's share of the work; ran[id] counts the times it ran task id. */
static work_t work_loop(const options_t *o, queue_t *q, int32_t *img, int *ran)
{
    work_t w = {0, 0, 0};
    task_t t, kids[4];
    int64_t id, pending;
    int done = 0, nkids = 0;
    for (;;) {
        if (trade(q, done, kids, nkids, &t, &id, &pending)) {
            nkids = run_task(o, &t, img, kids, &w);
            ran[id]++;
            w.tasks++;
            done = 1;
            continue;
        }
        done = 0;
        if (pending == 0)
            break;
        nanosleep(&(struct timespec){0, 50000}, NULL); /* others may still push tasks */
    }
    return w;
}

/* The same algorithm on one rank with a private queue; returns the number of
 * tasks it ran. */
static int64_t reference(const options_t *o, int32_t *img, int64_t capacity)
{
    task_t *tasks = ex_private((size_t)capacity * sizeof(task_t));
    int64_t head = 0, tail = initial_tasks(o, tasks);
    work_t w = {0, 0, 0};
    while (head < tail) {
        task_t t = tasks[head++];
        tail += run_task(o, &t, img, &tasks[tail], &w);
    }
    free(tasks);
    return tail;
}

/* Rank 0: checks exactly-once execution, the final queue state and the image. */
static int verify(const options_t *o, const queue_t *q, const int32_t *img, const int *ran)
{
    int ok = 1;
    int64_t bad = 0, first = -1;
    for (int64_t id = 0; id < q->capacity; id++)
        if (ran[id] != (id < q->tail ? 1 : 0) && bad++ == 0)
            first = id;
    if (bad) {
        printf("taskqueue: FAILED: %lld task ids did not run exactly once; first: id %lld "
               "ran %d times\n",
               (long long)bad, (long long)first, ran[first]);
        ok = 0;
    }
    if (q->head != q->tail || q->pending != 0) {
        printf("taskqueue: FAILED: queue did not end empty: head %lld tail %lld pending %lld\n",
               (long long)q->head, (long long)q->tail, (long long)q->pending);
        ok = 0;
    }
    size_t npix = (size_t)o->n * (size_t)o->n;
    int32_t *want = ex_private(npix * sizeof(int32_t));
    int64_t want_tasks = reference(o, want, q->capacity);
    if (want_tasks != q->tail) {
        printf("taskqueue: FAILED: %lld tasks ran, the sequential run had %lld\n",
               (long long)q->tail, (long long)want_tasks);
        ok = 0;
    }
    size_t wrong = 0, at = 0;
    for (size_t k = 0; k < npix; k++)
        if (img[k] != want[k] && wrong++ == 0)
            at = k;
    if (wrong) {
        printf("taskqueue: FAILED: %zu pixels differ; first (%zu, %zu): got %d, want %d\n", wrong,
               at % (size_t)o->n, at / (size_t)o->n, img[at], want[at]);
        ok = 0;
    }
    free(want);
    if (ok)
        printf("taskqueue: verified (%lld tasks each ran exactly once, queue empty, image equals "
               "the sequential run's)\n",
               (long long)q->tail);
    return ok;
}

static void report_work(const work_t *mine, double busy)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    work_t *all = rank == 0 ? ex_private((size_t)nranks * sizeof(work_t)) : NULL;
    double *times = rank == 0 ? ex_private((size_t)nranks * sizeof(double)) : NULL;
    MPI_Gather(mine, 3, MPI_INT64_T, all, 3, MPI_INT64_T, 0, MPI_COMM_WORLD);
    MPI_Gather(&busy, 1, MPI_DOUBLE, times, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        printf("taskqueue: work per rank\n  %5s %8s %10s %14s %8s\n", "rank", "tasks", "pixels",
               "iterations", "time-s");
        for (int r = 0; r < nranks; r++)
            printf("  %5d %8lld %10lld %14lld %8.3f\n", r, (long long)all[r].tasks,
                   (long long)all[r].pixels, (long long)all[r].iterations, times[r]);
    }
    free(all);
    free(times);
}

static int run(const options_t *o)
{
    int rank = mdsm_rank(), nranks = mdsm_nranks();
    int64_t ninit = initial_tasks(o, NULL);
    task_t *init = ex_private((size_t)ninit * sizeof(task_t));
    initial_tasks(o, init);
    int64_t cap = queue_capacity(init, ninit);
    queue_t *q = ex_alloc(sizeof(queue_t) + (size_t)cap * sizeof(task_t));
    int32_t *img = ex_alloc((size_t)o->n * (size_t)o->n * sizeof(int32_t));
    int *ran = ex_private((size_t)cap * sizeof(int));
    if (rank == 0) {
        memcpy(q->tasks, init, (size_t)ninit * sizeof(task_t));
        q->tail = ninit;
        q->pending = ninit;
        q->capacity = cap;
    }
    free(init);
    ex_check(mdsm_barrier(), "mdsm_barrier");

    ex_check(mdsm_stats_reset(), "mdsm_stats_reset");
    double t = MPI_Wtime();
    work_t w = work_loop(o, q, img, ran);
    double busy = MPI_Wtime() - t;
    ex_check(mdsm_barrier(), "mdsm_barrier");
    double slowest = ex_max_over_ranks(MPI_Wtime() - t);
    mdsm_stats_t stats;
    ex_check(mdsm_stats_get(&stats), "mdsm_stats_get");

    int *ran_sum = rank == 0 ? ex_private((size_t)cap * sizeof(int)) : NULL;
    MPI_Reduce(ran, ran_sum, (int)cap, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);
    int ok = 1;
    if (rank == 0) {
        printf("taskqueue: %d x %d Mandelbrot image, iteration limit %d, %lld initial tiles of "
               "side %d, %d ranks\n",
               o->n, o->n, o->max_iter, (long long)ninit, o->tile, nranks);
        printf("taskqueue: %lld tasks (%lld pushed by tasks) in %.3f s (slowest rank)\n",
               (long long)q->tail, (long long)(q->tail - ninit), slowest);
        ok = verify(o, q, img, ran_sum);
    }
    report_work(&w, busy);
    ok = ex_verdict(ok, &stats, "the queue run", o->quiet);
    free(ran_sum);
    free(ran);
    ex_check(mdsm_free(img), "mdsm_free");
    ex_check(mdsm_free(q), "mdsm_free");
    return ok;
}

int main(int argc, char **argv)
{
    if (ex_init("taskqueue") != 0)
        return 1;
    options_t o;
    if (parse_options(argc, argv, &o) != 0)
        return ex_usage("taskqueue [-n image side (1..32768)] [-i iteration limit (1..16777216)] "
                        "[-t initial tile side (1..32768)] [-q]\n");
    return ex_finalize(run(&o));
}
