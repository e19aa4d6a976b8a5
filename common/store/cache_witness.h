/*
 * cache_witness.h - the witness of enforce policies (cache_witness.c),
 * apart from the store: what tells "never held an enforce policy" from
 * "held one and lost it".  cache_put() keeps it; nothing else but the
 * operator removes a file of it before its policy would have expired
 * (internal to libmtasts).
 */
#ifndef MTASTS_CACHE_WITNESS_H
#define MTASTS_CACHE_WITNESS_H

#include <stdint.h>

#include "config.h"
#include "mtasts_core.h"

/*
 * cache_witnessed: when the last enforce policy stored for domain
 * expires; 0 when none was stored; INT64_MAX when its witness is damaged;
 * -1 with err set when the witness cannot be read.
 */
int64_t cache_witnessed(const struct mtasts_config *cfg, const char *domain,
    struct mtasts_error *err);

/* Records that domain's enforce policy expires at expires.  0, or -1 with
 * err set (MTASTS_ERR_IO). */
int cache_witness_keep(const struct mtasts_config *cfg, const char *domain,
    int64_t expires, struct mtasts_error *err);

/* Removes domain's witness: 0, 1 when it had none, -1 with err set. */
int cache_witness_forget(const struct mtasts_config *cfg, const char *domain,
    struct mtasts_error *err);

/* Calls fn for every domain of the witness (in no order) until it returns
 * non-zero.  0, or -1 with err set. */
int cache_witness_each(const struct mtasts_config *cfg,
    int (*fn)(void *arg, const char *domain, int64_t expires), void *arg,
    struct mtasts_error *err);

#endif
