/* context.h - what module/ files reach inside a struct mtasts_ctx. */
#ifndef MTASTS_CONTEXT_H
#define MTASTS_CONTEXT_H

#include "cache.h"
#include "config.h"
#include "dns.h"
#include "mtasts.h"

/* The resolver, made on first need; NULL with err set. */
struct dns *ctx_dns(struct mtasts_ctx *ctx, struct mtasts_error *err);

/* The cache, opened on first need; NULL with err set. */
struct cache *ctx_cache(struct mtasts_ctx *ctx, struct mtasts_error *err);

const struct mtasts_config *ctx_config(const struct mtasts_ctx *ctx);

/*
 * mtasts_lookups() and mtasts_get_policies() into results the library
 * holds (count of them, filled in place; release each with
 * lookup_result_clear()): MTASTS_OK, or MTASTS_ERR_USAGE.
 */
mtasts_code ctx_lookups(struct mtasts_ctx *ctx, const char *const *domains,
    size_t count, bool force, struct mtasts_lookup *results);
mtasts_code ctx_get_policies(struct mtasts_ctx *ctx, const char *const *domains,
    size_t count, const struct mtasts_policy *const *known,
    struct mtasts_lookup *results);

#endif
