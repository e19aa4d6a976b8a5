/*
 * lookup.h - lookups through the cache: the RFC 8461 §5 rules of when a
 * cached policy serves, is renewed, refetched or kept in force, and the
 * operator's overrides (internal to libmtasts).
 */
#ifndef MTASTS_LOOKUP_H
#define MTASTS_LOOKUP_H

#include "cache.h"
#include "config.h"
#include "discover.h"

struct lookup_env {
	const struct mtasts_config *cfg;
	struct discoverer *discoverer; /* made on first need */
	struct cache *cache; /* NULL when it could not be opened */
	struct mtasts_error cache_error; /* why, then */
	/* called as discoveries end (mtasts_ctx_set_progress) */
	void (*progress)(void *arg, size_t done, size_t total);
	void *progress_arg;
};

/*
 * The discoverer, made on first need: a lookup the cache answers never
 * starts a resolver or loads TLS.  NULL with err set when it cannot be.
 */
struct discoverer *lookup_discoverer(
    struct lookup_env *env, struct mtasts_error *err);

/*
 * Fills results[i] for domains[i], in place (the results the library
 * keeps inside its own allocations); see mtasts_lookups() in mtasts.h.
 */
void lookup_run(struct lookup_env *env, const char *const *domains,
    size_t count, bool force, struct mtasts_lookup *results);

/* Frees what a result filled in place holds and empties it. */
void lookup_result_clear(struct mtasts_lookup *result);

#endif
