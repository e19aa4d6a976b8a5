/*
 * cache.c - the policy cache's one door: the backend the configuration
 * names (cache_backend.h), and the witness of enforce policies kept
 * around every write, whatever the backend.  With a fleet (fleet = URL),
 * the fleet's store is a second tier behind the local one: asked on a
 * local miss only (a warm lookup makes no round trip), written after
 * it, locked after it.
 */
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "cache_backend.h"
#include "clock.h"
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
	void *fleet; /* redis_cache_backend's, or NULL: no fleet */
};

static const struct cache_backend *const fleet_backend = &redis_cache_backend;

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
	/* no connection yet: the fleet is reached at its first question */
	if (cfg->fleet != FLEET_NONE &&
	    (c->fleet = fleet_backend->open(cfg, err)) == NULL) {
		cache_close(c);
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
	if (c->fleet != NULL)
		fleet_backend->close(c->fleet);
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

/* The write of the local store, with its witness; own: an answer this
 * host found, the only kind that may end the witness (a copy of a peer's
 * never does). */
static mtasts_code
local_put(struct cache *c, const char *domain, const struct cache_entry *e,
    bool own, struct mtasts_error *err)
{
	struct mtasts_error werr = {0};
	bool wrote = false;
	mtasts_code rc;

	witness_before(c, domain, e, &werr);
	rc = c->backend->put_if_newer(c->store, domain, e, &wrote, err);
	if (own)
		witness_after(c, domain, e, wrote);
	if (rc != MTASTS_OK)
		return rc;
	if (werr.code != MTASTS_OK) {
		*err = werr;
		return werr.code;
	}
	return MTASTS_OK;
}

/* Between 1970 and a moment ahead of now: what a time of an answer may
 * be (a number outside it would overflow this host's now - t). */
static bool
time_of_answer(int64_t t, int64_t now, int64_t ahead)
{
	return t >= 0 && t <= now + ahead;
}

/*
 * Whether a peer's record may be taken here.  Not when this host's
 * witness says it held an enforce policy still in force and the record
 * holds none (a peer's stale or hostile "testing" would end what this
 * host vouches for: it discovers for itself, and lookup.c's vouch()
 * holds the domain if the network says nothing).  Not when its times
 * claim more than any answer could: checked or used ahead of this clock,
 * a retry more than a day away, a policy past its max_age (one write to
 * the fleet would otherwise last on every node that copied it), any time
 * before 1970 (wrapped, now - checked made a policy that expired then
 * look checked a moment ago).
 */
static bool
peer_record_taken(struct cache *c, const char *domain,
    const struct cache_entry *e)
{
	int64_t now = wall_now(), until;
	struct mtasts_error werr;
	const struct mtasts_policy *p = e->policy;

	if (!time_of_answer(e->checked, now, 300) ||
	    !time_of_answer(e->fetched, now, 300) ||
	    !time_of_answer(e->used, now, 300) ||
	    !time_of_answer(e->next_try, now, 86400) ||
	    (p != NULL && !time_of_answer(p->expires, now,
	                      e->checked - now + (int64_t)p->max_age + 300)))
		return false;
	if ((until = cache_witnessed(c->cfg, domain, &werr)) == 0 ||
	    until <= now)
		return true;
	/* witnessed (or its witness unreadable: vouch() says so) */
	return until > 0 && p != NULL && p->mode == MTASTS_MODE_ENFORCE &&
	    p->expires > now;
}

/*
 * A local miss, asked of the fleet: what a peer learned is copied here
 * (RFC 8461 §5 across the fleet: a node that never saw the domain keeps
 * the policy its peer found).  A fleet that cannot answer is no record
 * (the host decides alone, as without a fleet) unless fleet_strict says
 * that a domain this host cannot vouch for alone waits.
 */
static mtasts_code
fleet_get(struct cache *c, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	struct mtasts_error ferr = {0}, lerr;
	mtasts_code rc = fleet_backend->get(c->fleet, domain, e, &ferr);

	if (rc == MTASTS_OK && !peer_record_taken(c, domain, e)) {
		cache_entry_clear(e);
		return MTASTS_ERR_NOT_CACHED;
	}
	if (rc == MTASTS_OK) {
		local_put(c, domain, e, false, &lerr);
		return MTASTS_OK;
	}
	if (rc == MTASTS_ERR_NOT_CACHED)
		return rc;
	/* the reason is said when the answer is stored (cache_put: the
	 * fleet is not asked again for a while, it fails the same way) */
	if (!c->cfg->fleet_strict)
		return MTASTS_ERR_NOT_CACHED;
	return mtasts_error_set(err, MTASTS_ERR_CACHE,
	    "%.400s; fleet_strict: %s waits for an answer of the fleet",
	    ferr.message, domain);
}

mtasts_code
cache_get(struct cache *c, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	mtasts_code rc = c->backend->get(c->store, domain, e, err);

	if (rc != MTASTS_ERR_NOT_CACHED || c->fleet == NULL)
		return rc;
	return fleet_get(c, domain, e, err);
}

mtasts_code
cache_put(struct cache *c, const char *domain, const struct cache_entry *e,
    struct mtasts_error *err)
{
	struct mtasts_error ferr = {0};
	mtasts_code rc = local_put(c, domain, e, true, err);
	bool wrote;

	if (c->fleet == NULL || (rc != MTASTS_OK && rc != MTASTS_ERR_IO))
		return rc;
	/* the fleet applies the same rule to what it holds */
	if (fleet_backend->put_if_newer(c->fleet, domain, e, &wrote, &ferr) ==
	        MTASTS_OK ||
	    rc != MTASTS_OK)
		return rc;
	return mtasts_error_set(err, MTASTS_ERR_IO,
	    "kept here, not shared with the fleet: %.440s", ferr.message);
}

mtasts_code
cache_touch(struct cache *c, const char *domain, const struct cache_entry *e,
    struct mtasts_error *err)
{
	return local_put(c, domain, e, true, err);
}

mtasts_code
cache_del(struct cache *c, const char *domain, struct mtasts_error *err)
{
	struct mtasts_error ferr = {0};
	mtasts_code rc = c->backend->del(c->store, domain, err), frc;

	if (c->fleet == NULL || (rc != MTASTS_OK && rc != MTASTS_ERR_NOT_CACHED))
		return rc;
	/* else the next miss would copy it back */
	frc = fleet_backend->del(c->fleet, domain, &ferr);
	if (frc == MTASTS_ERR_NOT_CACHED)
		return rc;
	if (frc != MTASTS_OK)
		return mtasts_error_set(err, MTASTS_ERR_CACHE,
		    "%s not removed from the fleet: %.400s", domain,
		    ferr.message);
	return MTASTS_OK;
}

mtasts_code
cache_each(struct cache *c,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err)
{
	return c->backend->each(c->store, fn, arg, err);
}

mtasts_code
cache_fleet_each(struct cache *c,
    int (*fn)(void *arg, const char *domain, const struct cache_entry *e),
    void *arg, struct mtasts_error *err)
{
	if (c->fleet == NULL)
		return mtasts_error_set(err, MTASTS_ERR_USAGE,
		    "no fleet is set (fleet = URL in the configuration)");
	return fleet_backend->each(c->fleet, fn, arg, err);
}

int
cache_room(struct cache *c, uint64_t *used, uint64_t *size)
{
	return c->backend->room(c->store, used, size);
}

/*
 * The local lock, then the fleet's with what is left of the wait: one
 * discovery per fleet.  A fleet that cannot be asked, or a peer node that
 * holds on past the wait, leaves the local lock alone: this host
 * discovers, as without a fleet.
 */
int
cache_lock(struct cache *c, const char *domain, long timeout_ms)
{
	int64_t start = mono_ms();
	int local = c->backend->lock(c->store, domain, timeout_ms);
	long left;

	if (local < 0 || c->fleet == NULL)
		return local;
	left = timeout_ms - (long)(mono_ms() - start);
	return fleet_backend->lock(c->fleet, domain, left > 0 ? left : 0) == 1
	    ? 1
	    : local;
}

void
cache_unlock(struct cache *c, const char *domain)
{
	if (c->fleet != NULL)
		fleet_backend->unlock(c->fleet, domain);
	c->backend->unlock(c->store, domain);
}

/* The local record's check and use stamps (0 without one): a copy must
 * be newer, and keeps the later use (the peer's says when the peer used
 * it). */
static void
local_stamps(
    struct cache *c, const char *domain, int64_t *checked, int64_t *used)
{
	struct cache_entry l;
	struct mtasts_error err;

	*checked = *used = 0;
	if (c->backend->get(c->store, domain, &l, &err) == MTASTS_OK) {
		*checked = l.checked;
		*used = l.used;
		cache_entry_clear(&l);
	}
}

enum cache_share
cache_share(struct cache *c, const char *domain,
    bool (*fresh)(void *arg, const struct cache_entry *e), void *arg,
    long hold_ms)
{
	struct cache_entry e;
	struct mtasts_error err;
	bool taken = false;
	int64_t checked, used;

	if (c->fleet == NULL)
		return CACHE_SHARE_MINE;
	if (fleet_backend->get(c->fleet, domain, &e, &err) == MTASTS_OK) {
		local_stamps(c, domain, &checked, &used);
		/* never back in time (a fleet restored from an older copy):
		 * put_if_newer would take a record checked over an hour
		 * before this one for a clock set back; and its times
		 * checked before the caller's arithmetic */
		if (e.policy != NULL && e.checked > checked &&
		    peer_record_taken(c, domain, &e) && fresh(arg, &e)) {
			if (used > e.used)
				e.used = used;
			taken =
			    local_put(c, domain, &e, false, &err) == MTASTS_OK;
		}
		cache_entry_clear(&e);
	}
	if (taken)
		return CACHE_SHARE_TAKEN;
	return fleet_backend->claim(c->fleet, domain, hold_ms) == 0
	    ? CACHE_SHARE_PEER
	    : CACHE_SHARE_MINE;
}

void
cache_share_done(struct cache *c, const char *domain)
{
	if (c->fleet != NULL)
		fleet_backend->unclaim(c->fleet, domain);
}
