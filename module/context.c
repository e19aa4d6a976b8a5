/*
 * context.c - the per-process context of the public API and the lookups
 * made through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "discover.h"
#include "error.h"
#include "context.h"
#include "lookup.h"

struct mtasts_ctx {
	struct lookup_env env;
	bool cache_tried; /* the cache is opened on first use */
	struct dns *dns; /* for MX checks, made on first use */
};

struct dns *
ctx_dns(struct mtasts_ctx *ctx, struct mtasts_error *err)
{
	if (ctx->dns == NULL)
		ctx->dns = dns_new(ctx->env.cfg, err);
	return ctx->dns;
}

struct cache *
ctx_cache(struct mtasts_ctx *ctx, struct mtasts_error *err)
{
	if (!ctx->cache_tried) {
		ctx->cache_tried = true;
		ctx->env.cache =
		    cache_open(ctx->env.cfg, &ctx->env.cache_error);
	}
	if (ctx->env.cache == NULL && err != NULL)
		*err = ctx->env.cache_error;
	return ctx->env.cache;
}

const struct mtasts_config *
ctx_config(const struct mtasts_ctx *ctx)
{
	return ctx->env.cfg;
}

bool
mtasts_abi_check(unsigned abi, size_t layout)
{
	return abi == MTASTS_ABI && layout == MTASTS_LAYOUT;
}

mtasts_code
mtasts_ctx_new_abi(unsigned abi, size_t layout,
    const struct mtasts_config *cfg, struct mtasts_ctx **out,
    struct mtasts_error *err)
{
	struct mtasts_ctx *ctx;

	*out = NULL;
	if (!mtasts_abi_check(abi, layout))
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "this program was built against the mtasts.h of another "
		    "libmtasts (ABI %u, this library has ABI %u): rebuild it",
		    abi, MTASTS_ABI);
	if (cfg == NULL)
		return mtasts_error_set(
		    err, MTASTS_ERR_USAGE, "a context needs a configuration");
	if ((ctx = calloc(1, sizeof(*ctx))) == NULL)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
	ctx->env.cfg = cfg;
	*out = ctx;
	return MTASTS_OK;
}

void
mtasts_ctx_free(struct mtasts_ctx *ctx)
{
	if (ctx == NULL)
		return;
	discoverer_free(ctx->env.discoverer);
	dns_free(ctx->dns);
	cache_close(ctx->env.cache);
	free(ctx);
}

static bool
valid_args(
    const struct mtasts_ctx *ctx, const char *const *domains, size_t count)
{
	size_t i;

	if (ctx == NULL || domains == NULL)
		return false;
	for (i = 0; i < count; i++)
		if (domains[i] == NULL)
			return false;
	return true;
}

mtasts_code
ctx_get_policies(struct mtasts_ctx *ctx, const char *const *domains,
    size_t count, const struct mtasts_policy *const *known,
    struct mtasts_lookup *results)
{
	struct mtasts_error err;
	struct discoverer *d;
	size_t i;

	if (!valid_args(ctx, domains, count) || results == NULL)
		return MTASTS_ERR_USAGE;
	if ((d = lookup_discoverer(&ctx->env, &err)) == NULL) {
		for (i = 0; i < count; i++) {
			memset(&results[i], 0, sizeof(results[i]));
			snprintf(results[i].domain, sizeof(results[i].domain),
			    "%s", domains[i]);
			results[i].status = MTASTS_STATUS_ERRORED;
			results[i].undecided = true;
			results[i].error = err;
		}
		return MTASTS_OK;
	}
	discover_run(d, domains, count, known, results, wall_now());
	return MTASTS_OK;
}

mtasts_code
ctx_lookups(struct mtasts_ctx *ctx, const char *const *domains, size_t count,
    bool force, struct mtasts_lookup *results)
{
	if (!valid_args(ctx, domains, count) || results == NULL)
		return MTASTS_ERR_USAGE;
	ctx_cache(ctx, NULL);
	lookup_run(&ctx->env, domains, count, force, results);
	return MTASTS_OK;
}

/*
 * The results of the public calls are the caller's, one allocation each
 * (mtasts.h, Stability); the lookups fill an array in place.  Makes
 * results[i] and returns the array to fill: results[0] itself for one
 * result (a lookup allocates nothing more), scratch for more.  All or
 * nothing: NULL, with every results[i] NULL, when memory runs out.
 */
static struct mtasts_lookup *
results_begin(struct mtasts_lookup **results, size_t count)
{
	struct mtasts_lookup *scratch = NULL;
	size_t i;

	for (i = 0; i < count; i++)
		results[i] = NULL;
	if (count > 1 && (scratch = calloc(count, sizeof(*scratch))) == NULL)
		return NULL;
	for (i = 0; i < count; i++) {
		if ((results[i] = calloc(1, sizeof(*results[i]))) != NULL)
			continue;
		while (i-- > 0) {
			free(results[i]);
			results[i] = NULL;
		}
		free(scratch);
		return NULL;
	}
	return count == 1 ? results[0] : scratch;
}

/* Moves what the lookups filled into results[i], what each holds with it. */
static void
results_end(
    struct mtasts_lookup **results, struct mtasts_lookup *filled, size_t count)
{
	size_t i;

	if (count == 1)
		return;
	for (i = 0; i < count; i++)
		*results[i] = filled[i];
	free(filled);
}

/* A bad argument: every result NULL, where there is an array of them. */
static mtasts_code
results_refused(struct mtasts_lookup **results, size_t count)
{
	size_t i;

	for (i = 0; results != NULL && i < count; i++)
		results[i] = NULL;
	return MTASTS_ERR_USAGE;
}

/* The lookups, through the cache or (without, as mtasts_get_policies()
 * says) with known, into results the caller owns. */
static mtasts_code
results_made(struct mtasts_ctx *ctx, const char *const *domains, size_t count,
    bool cached, bool force, const struct mtasts_policy *const *known,
    struct mtasts_lookup **results)
{
	struct mtasts_lookup *filled;

	if (!valid_args(ctx, domains, count) || results == NULL)
		return results_refused(results, count);
	if (count == 0)
		return MTASTS_OK;
	if ((filled = results_begin(results, count)) == NULL)
		return MTASTS_ERR_NOMEM;
	if (cached)
		ctx_lookups(ctx, domains, count, force, filled);
	else
		ctx_get_policies(ctx, domains, count, known, filled);
	results_end(results, filled, count);
	return MTASTS_OK;
}

mtasts_code
mtasts_get_policies(struct mtasts_ctx *ctx, const char *const *domains,
    size_t count, const struct mtasts_policy *const *known,
    struct mtasts_lookup **results)
{
	return results_made(ctx, domains, count, false, false, known, results);
}

mtasts_code
mtasts_get_policy(struct mtasts_ctx *ctx, const char *domain,
    const struct mtasts_policy *known, struct mtasts_lookup **result)
{
	return mtasts_get_policies(ctx, &domain, 1, &known, result);
}

mtasts_code
mtasts_lookups(struct mtasts_ctx *ctx, const char *const *domains, size_t count,
    bool force, struct mtasts_lookup **results)
{
	return results_made(ctx, domains, count, true, force, NULL, results);
}

mtasts_code
mtasts_lookup(
    struct mtasts_ctx *ctx, const char *domain, struct mtasts_lookup **result)
{
	return mtasts_lookups(ctx, &domain, 1, false, result);
}

void
mtasts_ctx_set_progress(struct mtasts_ctx *ctx,
    void (*fn)(void *arg, size_t done, size_t total), void *arg)
{
	ctx->env.progress = fn;
	ctx->env.progress_arg = arg;
	if (ctx->env.discoverer != NULL)
		discoverer_set_progress(ctx->env.discoverer, fn, arg);
}
