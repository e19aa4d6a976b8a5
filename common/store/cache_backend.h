/*
 * cache_backend.h - what a store of the policy cache does, as OpenSMTPD's
 * queue and table backends do: a struct of operations chosen by name
 * (cache_backend = NAME in mtasts.conf).  cache.c is the only caller; it
 * keeps the witness of enforce policies around put_if_newer, which is
 * the same for every store.  Adding a backend: one file that defines a
 * struct cache_backend, one line in cache.c's table (internal to
 * libmtasts).
 *
 * Every operation that can fail returns an mtasts_code with err set;
 * MTASTS_ERR_CACHE says the store could not be read or written, which
 * lookups never take for "no policy".
 */
#ifndef MTASTS_CACHE_BACKEND_H
#define MTASTS_CACHE_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "cache_codec.h"
#include "config.h"
#include "mtasts_core.h"

struct cache_backend {
	const char *name;
	/* The store of cfg (made when it is not there): an object of the
	 * backend's own, or NULL with err set. */
	void *(*open)(const struct mtasts_config *cfg, struct mtasts_error *err);
	void (*close)(void *store);
	/* domain's entry: MTASTS_OK, or MTASTS_ERR_NOT_CACHED, or
	 * MTASTS_ERR_CACHE (a record that does not decode is one) */
	mtasts_code (*get)(void *store, const char *domain,
	    struct cache_entry *entry, struct mtasts_error *err);
	/* Writes domain's entry in one atomic step with the rule of
	 * cache_record_stays() applied inside it, against the record the
	 * store holds at that moment (a peer may have written since the
	 * caller read it).  *wrote says whether it did. */
	mtasts_code (*put_if_newer)(void *store, const char *domain,
	    const struct cache_entry *entry, bool *wrote,
	    struct mtasts_error *err);
	/* MTASTS_OK, or MTASTS_ERR_NOT_CACHED when there was none */
	mtasts_code (*del)(
	    void *store, const char *domain, struct mtasts_error *err);
	/* every entry in domain order until fn returns non-zero; a record
	 * that does not decode is passed as errored with MTASTS_ERR_CACHE */
	mtasts_code (*each)(void *store,
	    int (*fn)(void *arg, const char *domain,
	        const struct cache_entry *e),
	    void *arg, struct mtasts_error *err);
	/* bytes in use and the most the store may hold: 0, or -1 */
	int (*room)(void *store, uint64_t *used, uint64_t *size);
	/* one discovery of a domain at a time among the store's users: 0
	 * taken at once, 1 taken after waiting, -1 not taken in timeout_ms;
	 * a holder that dies lets go */
	int (*lock)(void *store, const char *domain, long timeout_ms);
	void (*unlock)(void *store, const char *domain);
	/* The refresh of domain claimed for hold_ms among the store's users
	 * (a holder that dies lets go when it expires): 1 claimed, 0 a
	 * peer's claim holds, -1 cannot be asked; unclaim lets go of this
	 * opening's claim.  NULL for a store of one host: the fleet's. */
	int (*claim)(void *store, const char *domain, long hold_ms);
	void (*unclaim)(void *store, const char *domain);
	/* The operator's repair of a damaged store (mtasts cache rebuild);
	 * NULL when the store has nothing to repair. */
	mtasts_code (*rebuild)(const struct mtasts_config *cfg, size_t *kept,
	    struct mtasts_error *err);
};

/*
 * The rule every put_if_newer applies, RFC 8461 §5 among it: the record
 * the store holds (old, len bytes) stays, rather than an answer checked
 * at checked, when it was checked later (a peer's newer answer: later,
 * but by at most an hour, or a clock set back would make it win against
 * every answer), or when the answer has no policy (has_policy false) and
 * the record holds one in force at checked or does not decode (it may
 * hold one): failures never end a policy early.
 */
bool cache_record_stays(const unsigned char *old, size_t len,
    int64_t checked, bool has_policy);

/* The backends, each in its own file. */
extern const struct cache_backend lmdb_cache_backend;
/* the fleet's store (fleet = URL): asked by the door after the local
 * backend, never named by cache_backend */
extern const struct cache_backend redis_cache_backend;

#endif
