/*
 * discover.h - RFC 8461 §3 policy discovery for many domains at once: TXT
 * record, policy host addresses, HTTPS fetch, one event loop over the
 * resolver and curl (internal to libmtasts).
 */
#ifndef MTASTS_DISCOVER_H
#define MTASTS_DISCOVER_H

#include "config.h"
#include "mtasts_core.h"

struct discoverer;

struct discoverer *discoverer_new(
    const struct mtasts_config *cfg, struct mtasts_error *err);
void discoverer_free(struct discoverer *d);

/*
 * Fills results[i] for domains[i] (known[i] is the caller's known policy or
 * NULL; known itself may be NULL), at most cfg->concurrency at a time.
 * Returns when every result is filled.  now is the wall-clock time expiries
 * count from.
 */
/* Calls fn(arg, done, total) each time a discovery ends (NULL: none). */
void discoverer_set_progress(struct discoverer *d,
    void (*fn)(void *arg, size_t done, size_t total), void *arg);

void discover_run(struct discoverer *d, const char *const *domains,
    size_t count, const struct mtasts_policy *const *known,
    struct mtasts_lookup *results, int64_t now);

#endif
