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

#endif
