/* The configuration table: every MDSM_* variable, parsed, validated and described in one place. */
#ifndef MDSM_CONFIG_CONFIG_H
#define MDSM_CONFIG_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "mdsm.h"

enum mdsm_progress_mode { MDSM_PROGRESS_OFF = 0, MDSM_PROGRESS_THREAD = 1, MDSM_PROGRESS_AUTO = 2 };
/* MDSM_BIND: auto binds ranks the launcher left unbound; none never binds. */
enum mdsm_bind_mode { MDSM_BIND_NONE = 0, MDSM_BIND_AUTO = 1 };

/* Resolved settings in force for one mdsm session. */
struct mdsm_settings {
    size_t space_size;
    size_t cache_size;
    size_t page_size;
    int distribution; /* mdsm_distribution_t, never MDSM_DIST_UNSET */
    int num_locks;
    int stats;
    int log_level;
    int progress;             /* enum mdsm_progress_mode */
    int progress_interval_us; /* helper thread poll period */
    int bind;                 /* enum mdsm_bind_mode */
    int watchdog_s;           /* MDSM_WATCHDOG: 0 off, else the period in seconds */
    int node_sharing;         /* MDSM_NODE_SHARING: node-local homes used in place */
    int max_mappings;         /* MDSM_MAX_MAPPINGS: 0 auto */
    int prefetch_max;         /* MDSM_PREFETCH_MAX: pages per read miss at most, 1 off */
};

#define MDSM_CONFIG_MAX_VARS 16

struct mdsm_config_resolved {
    struct mdsm_settings s;
    uint8_t source[MDSM_CONFIG_MAX_VARS]; /* mdsm_config_source_t per table entry */
};

/* Resolves defaults < environment < cfg fields (cfg may be NULL). On a bad
 * value returns MDSM_ERR_CONFIG with a message naming the variable (or field),
 * the value and the accepted form; *out is then unspecified. */
int mdsm_config_resolve(const mdsm_config_t *cfg, struct mdsm_config_resolved *out);

/* MDSM_LOG_LEVEL alone, so that errors found while resolving the rest are
 * logged as asked; the default level if it is unset or malformed. */
int mdsm_config_env_log_level(void);

/* Makes mdsm_config_var() report r (the session's settings); NULL to go back to
 * reporting what the environment would give. */
void mdsm_config_set_active(const struct mdsm_config_resolved *r);

/* The settings every rank must hold alike (flagged AGREE in the table):
 * their number, and the value and source (mdsm_config_source_t) of the k-th
 * of them in r. mdsm_init compares them across ranks. */
int mdsm_config_num_agreed(void);
void mdsm_config_agreed(const struct mdsm_config_resolved *r, int k, uint64_t *value, int *source);

/* Records MDSM_ERR_MISMATCH for the k-th agreed setting, naming the variable
 * and the value and source of two ranks that differ, and returns it. */
int mdsm_config_mismatch(int k, int rank_a, uint64_t a, int source_a, int rank_b, uint64_t b,
                         int source_b);

#endif
