/* Write notices: each rank logs the pages it wrote, in order, in a ring in its
 * meta window, and publishes how many it has logged (its head). A rank that
 * acquires catches up with other ranks' logs up to a target vector of heads and
 * invalidates the pages named there: exactly those others wrote since it last
 * synchronised with them. */
#ifndef MDSM_SYNC_NOTICE_H
#define MDSM_SYNC_NOTICE_H

#include <stdint.h>

/* npages: the space's, cut into META_REGIONS runs. A reader whose writer
 * lapped its ring (more than META_LOG_CAP notices it had not read) invalidates
 * its copies in the runs that writer stamped since, not its whole cache. */
int notice_init(int rank, int nranks, uint64_t npages);
void notice_fini(void);

/* Logs page (not yet visible to others). Matches cache_written_fn. */
void notice_append(uint64_t page);

/* Makes every logged notice visible. Call after the writes are complete.
 * With announce (every release but a barrier's, whose notices every rank
 * catches up with in the barrier), a publish that made notices visible also
 * bumps the release epoch on rank 0, which notice_acquire checks first. */
int notice_publish(int announce);

/* mdsm_acquire: catches up with every rank's published notices. When the
 * release epoch has not moved since this rank's last notice_acquire read it,
 * nothing was announced since: one atomic read, nothing else. heads is
 * scratch for nranks words. */
int notice_acquire(uint64_t *heads);

/* This rank's vector: heads of others' logs it has caught up with, and its
 * own published head. Valid until the next call into this module. */
const uint64_t *notice_vector(void);

/* Changes whenever notice_vector()'s contents do. */
uint64_t notice_vector_gen(void);

/* Invalidates every page named in others' logs up to target[r] (per rank).
 * For a lock acquire (for_lock) that misses only a few notices, the pages
 * named are brought up to date in place instead (cache_refresh). */
int notice_catch_up(const uint64_t *target, int for_lock);

/* Packs into out (at most max words) the latest entries this rank knows of
 * every rank's log up to its vector: its own last ones and those it applied
 * of others. Returns the words used. The format is this module's. */
int notice_pack_recent(uint64_t *out, int max);

/* notice_catch_up for a lock acquire, first applying the entries packed by another rank's
 * notice_pack_recent wherever they are exactly what this rank misses of a
 * log, so that those logs need not be read. */
int notice_catch_up_packed(const uint64_t *target, const uint64_t *packed, int words);

/* mdsm_barrier's exchange, after its release: all ranks' notices since the
 * last barrier travel in collectives instead of each rank reading each
 * writer's log: the heads (each rank gets every rank's), then the entries in
 * rounds of MPI_Iallgatherv over a fixed buffer (one round unless they exceed
 * it); where at most BARRIER_PULL_MAX ranks wrote, each rank reads their logs
 * instead (fewer messages, no wait for the others). notice_barrier_stage gives this rank's head to
 * exchange (NOTICE_HEAD_LAPPED set when its ring no longer holds them all: it sends none) and its
 * entries. Given every rank's head, notice_barrier_round lays out the round of ranks [r0, return
 * value): the receive buffer and every rank's count and displacement, the same on every rank;
 * notice_barrier_apply_round applies what this rank had not seen of them;
 * notice_barrier_finish clears the flag in heads, handles lapped writers and
 * reads from the logs what this rank is still missing. Between stage and
 * finish, notice_acquire never takes the epoch shortcut (the barrier's
 * notices move no epoch). */
/* This rank's vector for a lock grant or a lock's home, as the entries that
 * differ from the last barrier's heads (the same on every rank, so only the
 * ranks that wrote since travel): [barrier count, k, k pairs (rank,
 * notices)], or the whole vector where that is shorter. Returns the words
 * written, at most 2 + nranks. notice_vector_words gives the words an
 * encoding takes from its first two (-1 if malformed). decode rebuilds a
 * vector covering the sender's into target (nranks words) and sets *used:
 * encoded against this rank's last barrier or an earlier one (a lock left
 * free across barriers), from this rank's base and the entries listed;
 * against a barrier this rank has not finished (threads: one waits for a
 * lock while another is in a barrier), every rank's current head. */
int notice_vector_encode(uint64_t *out);
int notice_vector_words(const uint64_t *in, int words);
int notice_vector_decode(const uint64_t *in, int words, uint64_t *target, int *used);

#define NOTICE_HEAD_LAPPED (UINT64_C(1) << 63)
#define BARRIER_PULL_MAX   2
uint64_t notice_barrier_stage(const uint32_t **entries, int *count);
/* Ranks with notices since the last barrier (the same on every rank). */
int notice_barrier_writers(const uint64_t *heads);
int notice_barrier_round(const uint64_t *heads, int r0, uint32_t **recv, const int **counts,
                         const int **displs);
void notice_barrier_apply_round(const uint64_t *heads, int r0, int r1);
/* seq: the barrier's sequence number (the same on every rank), which tags
 * the base that grants are encoded against. */
int notice_barrier_finish(uint64_t *heads, uint64_t seq);

#endif
