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
	struct discoverer *discoverer;
	struct cache *cache; /* NULL when it could not be opened */
	struct mtasts_error cache_error; /* why, then */
};

/* Fills results[i] for domains[i]; see mtasts_lookups() in mtasts.h. */
void lookup_run(struct lookup_env *env, const char *const *domains,
    size_t count, bool force, struct mtasts_lookup *results);

#endif
