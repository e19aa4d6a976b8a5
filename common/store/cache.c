/*
 * cache.c - the policy cache's one door: the backend the configuration
 * names (cache_backend.h), and the witness of enforce policies kept
 * around every write, whatever the backend.
 */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cache_backend.h"
#include "error.h"
#include "named.h"

/* The backends, by name; the first is the default. */
static const struct cache_backend *const backends[] = {
	&lmdb_cache_backend,
};

struct cache {
	const struct mtasts_config *cfg;
	const struct cache_backend *backend;
	void *store; /* the backend's */
};

static const struct cache_backend *
backend_named(const char *name)
{
	return named_in((const void *const *)backends,
	    sizeof(backends) / sizeof(backends[0]), name);
}

bool
cache_backend_known(const char *name)
{
	return backend_named(name) != NULL;
}

const char *
cache_backend_nth(size_t i)
{
	return i < sizeof(backends) / sizeof(backends[0]) ? backends[i]->name
	                                                  : NULL;
}

/* The configured backend, or NULL with err set: a cache that cannot be
 * opened (MTASTS_ERR_CACHE), which lookups never take for "no policy". */
static const struct cache_backend *
backend_of(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	const struct cache_backend *b = backend_named(cfg->cache_backend);

	if (b == NULL)
		mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "cache_backend %s: no such backend", cfg->cache_backend);
	return b;
}

struct cache *
cache_open(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	const struct cache_backend *b = backend_of(cfg, err);
	struct cache *c;

	if (b == NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	c->cfg = cfg;
	c->backend = b;
	if ((c->store = b->open(cfg, err)) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
cache_close(struct cache *c)
{
	if (c == NULL)
		return;
	c->backend->close(c->store);
	free(c);
}

mtasts_code
cache_rebuild(const struct mtasts_config *cfg, size_t *kept,
    struct mtasts_error *err)
{
	const struct cache_backend *b = backend_of(cfg, err);

	*kept = 0;
	if (b == NULL)
		return MTASTS_ERR_CACHE;
	if (b->rebuild == NULL)
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "cache_backend %s: nothing to rebuild", b->name);
	return b->rebuild(cfg, kept, err);
}

mtasts_code
cache_get(struct cache *c, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	return c->backend->get(c->store, domain, e, err);
}

/*
 * The witness, before the record: a process killed between the two
 * leaves a witness without its record (the domain waits for its policy
 * to be found again), never a record without its witness.  A new policy
 * of another mode, once written, ends it.
 */
static int
witness_before(struct cache *c, const char *domain,
    const struct cache_entry *e, struct mtasts_error *err)
{
	if (e->policy == NULL || e->policy->mode != MTASTS_MODE_ENFORCE ||
	    e->policy->expires <= e->checked)
		return 0;
	return cache_witness_keep(c->cfg, domain, e->policy->expires, err);
}

static void
witness_after(struct cache *c, const char *domain,
    const struct cache_entry *e, bool wrote)
{
	struct mtasts_error err;

	if (wrote && e->policy != NULL && e->status == MTASTS_STATUS_FOUND &&
	    e->policy->mode != MTASTS_MODE_ENFORCE)
		cache_witness_forget(c->cfg, domain, &err);
}

mtasts_code
cache_put(struct cache *c, const char *domain, const struct cache_entry *e,
    struct mtasts_error *err)
{
	struct mtasts_error werr = {0};
	bool wrote = false;
	mtasts_code rc;

	witness_before(c, domain, e, &werr);
	rc = c->backend->put_if_newer(c->store, domain, e, &wrote, err);
	witness_after(c, domain, e, wrote);
	if (rc != MTASTS_OK)
		return rc;
	if (werr.code != MTASTS_OK) {
		*err = werr;
		return werr.code;
	}
	return MTASTS_OK;
}

mtasts_code
cache_del(struct cache *c, const char *domain, struct mtasts_error *err)
{
	return c->backend->del(c->store, domain, err);
}

mtasts_code
cache_each(struct cache *c,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err)
{
	return c->backend->each(c->store, fn, arg, err);
}

int
cache_room(struct cache *c, uint64_t *used, uint64_t *size)
{
	return c->backend->room(c->store, used, size);
}

int
cache_lock(struct cache *c, const char *domain, long timeout_ms)
{
	return c->backend->lock(c->store, domain, timeout_ms);
}

void
cache_unlock(struct cache *c, const char *domain)
{
	c->backend->unlock(c->store, domain);
}
