/*
 * Which ranks share home memory (two-level memory, issue 9): ranks on the
 * same node whose mdsm uses the node's home pages in place
 * (mdsm_placement_t.node_sharing) read and write each other's home pages
 * without faults or transfers. Tests decide their expectations from this
 * map, never from the rank count: across hosts, or with MDSM_NODE_SHARING=off,
 * the same body expects today's per-rank protocol.
 *
 * dc_node_map_init() is collective over MPI_COMM_WORLD and must be called by
 * every rank after mdsm_init (mdsm's communicator is MPI_COMM_WORLD in the
 * tests), once per session, before dc_shares_home or dc_ranks_share.
 */
#ifndef NODE_CHECK_H
#define NODE_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mt.h"

struct dc_node_map {
    int nranks, me;
    int *node;    /* placement.node of each rank */
    int *sharing; /* placement.node_sharing of each rank */
};

static inline struct dc_node_map *dc_node_map_(void)
{
    static struct dc_node_map m;
    return &m;
}

/* Collective: gathers every rank's node and node_sharing. Returns MDSM_OK or
 * the error of mdsm_placement_get (MDSM_ERR_MPI if the gather failed); the
 * gather is entered on every rank whatever the local outcome. */
static inline int dc_node_map_init(void)
{
    struct dc_node_map *m = dc_node_map_();
    free(m->node);
    free(m->sharing);
    memset(m, 0, sizeof(*m));
    MPI_Comm_rank(MPI_COMM_WORLD, &m->me);
    MPI_Comm_size(MPI_COMM_WORLD, &m->nranks);
    mdsm_placement_t pl;
    int rc = mdsm_placement_get(&pl);
    int mine[2] = {-1 - m->me, 0}; /* on failure: a node of its own, not sharing */
    if (rc == MDSM_OK) {
        mine[0] = pl.node;
        mine[1] = pl.node_sharing ? 1 : 0;
    }
    int *all = malloc(2 * sizeof(int) * (size_t)m->nranks);
    m->node = malloc(sizeof(int) * (size_t)m->nranks);
    m->sharing = malloc(sizeof(int) * (size_t)m->nranks);
    if (!all || !m->node || !m->sharing)
        abort();
    if (MPI_Allgather(mine, 2, MPI_INT, all, 2, MPI_INT, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(all);
        return MDSM_ERR_MPI;
    }
    for (int r = 0; r < m->nranks; r++) {
        m->node[r] = all[2 * r];
        m->sharing[r] = all[2 * r + 1];
    }
    free(all);
    return rc;
}

/* 1 iff ranks a and b share home memory: a == b (a rank always uses its own
 * home pages in place), or both use node sharing and sit on the same node. */
static inline int dc_ranks_share(int a, int b)
{
    const struct dc_node_map *m = dc_node_map_();
    if (!m->node) {
        mt_fail(__FILE__, __LINE__, "dc_ranks_share called before dc_node_map_init");
        return a == b;
    }
    if (a < 0 || b < 0 || a >= m->nranks || b >= m->nranks)
        return 0;
    if (a == b)
        return 1;
    return m->sharing[a] && m->sharing[b] && m->node[a] == m->node[b];
}

/* 1 iff this rank and rank share home memory (see dc_ranks_share). */
static inline int dc_shares_home(int rank)
{
    return dc_ranks_share(dc_node_map_()->me, rank);
}

/* 1 iff every rank shares home memory with every other (one sharing node). */
static inline int dc_all_share(void)
{
    const struct dc_node_map *m = dc_node_map_();
    for (int r = 1; r < m->nranks; r++)
        if (!dc_ranks_share(0, r))
            return 0;
    return 1;
}

/* 1 iff writes to home pages are not tracked at all: every rank uses every
 * rank's home pages in place (all on one sharing node, or alone with sharing
 * on), so no copy can go stale and home pages are mapped read-write for good
 * (no write faults, no notices). */
static inline int dc_writes_untracked(void)
{
    const struct dc_node_map *m = dc_node_map_();
    for (int r = 0; r < m->nranks; r++)
        if (!m->sharing[r] || !dc_ranks_share(0, r))
            return 0;
    return 1;
}

/* Words for messages: "shared" or "not shared" home memory with rank. */
static inline const char *dc_share_word(int rank)
{
    return dc_shares_home(rank) ? "shares home memory" : "does not share home memory";
}

/* ---- Kernel mappings and memory, from /proc/self ------------------------------ */

/* Number of mappings (lines of /proc/self/maps) that intersect [lo, hi); -1
 * if the file cannot be read. */
static inline long dc_count_mappings(const void *lo, const void *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return -1;
    long n = 0;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        unsigned long a = 0, b = 0;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a < (unsigned long)hi && b > (unsigned long)lo)
            n++;
        /* A line longer than the buffer: skip its rest. */
        while (!strchr(line, '\n') && fgets(line, sizeof(line), f))
            ;
    }
    fclose(f);
    return n;
}

/* This process's proportional set size in kB: "Pss:" of /proc/self/smaps_rollup,
 * or the sum over /proc/self/smaps where there is no rollup; -1 if neither reads. */
static inline long long dc_pss_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    int rollup = f != NULL;
    if (!f)
        f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    long long total = 0;
    int seen = 0;
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        long long kb = 0;
        if (sscanf(line, "Pss: %lld kB", &kb) == 1) {
            total += kb;
            seen = 1;
            if (rollup)
                break;
        }
    }
    fclose(f);
    return seen ? total : -1;
}

/* This process's anonymous resident memory in kB ("RssAnon:" of
 * /proc/self/status); -1 if it cannot be read. */
static inline long long dc_rss_anon_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    long long kb = -1;
    char line[256];
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "RssAnon: %lld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

/* The first n_max pages of [base, base + npages pages) homed on rank, every
 * step-th of them; returns how many were stored in out. */
static inline size_t dc_pages_homed_on(volatile void *base, size_t npages, int rank, size_t step,
                                       size_t *out, size_t n_max)
{
    long ps = mdsm_page_size();
    size_t n = 0, seen = 0;
    for (size_t p = 0; p < npages && n < n_max; p++) {
        if (mdsm_home_of((const char *)base + p * (size_t)ps) != rank)
            continue;
        if (seen++ % step == 0)
            out[n++] = p;
    }
    return n;
}

#endif
