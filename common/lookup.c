/*
 * lookup.c - lookups through the cache.  For each domain, in order:
 *
 *   1. an override in the configuration answers without the network;
 *   2. a cached answer that is still fresh answers without the network;
 *   3. otherwise the domain is discovered with the cached policy as the
 *      known one (RFC 8461 §5.1: an unchanged id renews it; a failure
 *      leaves it in force until it expires), and the cache is updated.
 *
 * One process discovers a domain at a time: the others wait on the
 * domain's lock, then find its answer in the cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "domain.h"
#include "error.h"
#include "lookup.h"

/* What lookup_run() keeps per domain. */
struct item {
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct cache_entry entry; /* what the cache held */
	bool have_entry;
	bool discover; /* needs the network */
	bool locked;
	const struct override *override;
};

/*
 * An answer from the cache is fresh enough to serve as it is.  One from
 * the future (the clock was set back since) is not: it is checked again.
 */
static bool
is_fresh(
    const struct mtasts_config *cfg, const struct cache_entry *e, int64_t now)
{
	if (e->checked > now + 300)
		return false;
	/* a policy whose refresh failed is served as it is until the next
	 * try (the failures back off, as a first discovery's do): one slow
	 * policy host must not cost every delivery its fetch deadline */
	if (e->policy != NULL)
		return e->policy->expires > now &&
		    (now - e->checked < cfg->txt_recheck ||
		        (e->failures > 0 && now < e->next_try));
	return now < e->next_try;
}

static void
answer_from_entry(
    struct mtasts_lookup *r, const struct cache_entry *e, int64_t now)
{
	r->status = e->status;
	r->dnssec = e->dnssec;
	r->error = e->error;
	r->source = MTASTS_SOURCE_CACHE;
	if (e->policy != NULL && e->policy->expires > now) {
		r->policy = mtasts_policy_dup(e->policy);
		snprintf(r->id, sizeof(r->id), "%s", e->policy->id);
		/* served from the cache: mailauth's "cached" */
		r->status = MTASTS_STATUS_CACHED;
		if (r->policy == NULL) {
			r->status = MTASTS_STATUS_ERRORED;
			mtasts_error_set(
			    &r->error, MTASTS_ERR_NOMEM, "out of memory");
		}
	}
}

/* A [domain] section with mode and mx: a policy of the operator's. */
static void
answer_static(struct mtasts_lookup *r, const struct override *o)
{
	struct mtasts_policy p = {
	    .mode = o->mode, .mx_count = o->mx_count, .mx = o->mx};

	snprintf(p.id, sizeof(p.id), "override");
	r->status = MTASTS_STATUS_FOUND;
	r->source = MTASTS_SOURCE_OVERRIDE;
	r->override = MTASTS_OVERRIDE_STATIC;
	if ((r->policy = mtasts_policy_dup(&p)) == NULL) {
		r->status = MTASTS_STATUS_ERRORED;
		mtasts_error_set(&r->error, MTASTS_ERR_NOMEM, "out of memory");
	}
}

/* Seconds before the next discovery after failures in a row. */
static int64_t
backoff(const struct mtasts_config *cfg, uint32_t failures)
{
	int64_t delay = cfg->error_retry;

	while (failures-- > 0 && delay < cfg->negative_ttl)
		delay *= 2;
	return delay < cfg->negative_ttl ? delay : cfg->negative_ttl;
}

/* The cache entry after a discovery that answered r. */
static void
next_entry(const struct mtasts_config *cfg, struct item *it,
    const struct mtasts_lookup *r, int64_t now, bool force,
    struct cache_entry *e)
{
	const struct cache_entry *old = it->have_entry ? &it->entry : NULL;

	memset(e, 0, sizeof(*e));
	e->status = r->status;
	e->dnssec = r->dnssec;
	e->error = r->error;
	e->policy = r->policy; /* borrowed for the write */
	e->checked = now;
	/* a forced re-check (mtasts refresh) is no use of the domain; an
	 * MTA's re-check follows a lookup that noted it already */
	e->used = old != NULL && force ? old->used : now;
	e->uses = old != NULL ? old->uses : 0;
	switch (r->status) {
	case MTASTS_STATUS_FOUND:
		e->fetched = now;
		break;
	case MTASTS_STATUS_RENEWED:
		e->fetched = old != NULL ? old->fetched : now;
		break;
	case MTASTS_STATUS_CACHED:
		/* discovery failed; the policy stays in force (§5), and the
		 * next try waits as an error's would */
		e->fetched = old != NULL ? old->fetched : 0;
		e->failures = (old != NULL ? old->failures : 0) + 1;
		e->next_try = now + backoff(cfg, e->failures - 1);
		break;
	case MTASTS_STATUS_NOT_FOUND:
		e->next_try = now + cfg->negative_ttl;
		break;
	case MTASTS_STATUS_ERRORED:
		e->failures = (old != NULL ? old->failures : 0) + 1;
		e->next_try = now + backoff(cfg, e->failures - 1);
		break;
	}
}

/* The cache held a policy that is in force at now. */
static bool
had_policy(const struct item *it, int64_t now)
{
	return it->have_entry && it->entry.policy != NULL &&
	    it->entry.policy->expires > now;
}

/*
 * Discovery ended errored, for whatever reason (a broken resolver, memory):
 * a cached policy still in force answers, with the error beside it (RFC
 * 8461 §5.1 - failures never end a policy early).
 */
static void
keep_known(struct item *it, struct mtasts_lookup *r, int64_t now)
{
	struct mtasts_error err = r->error;

	if (r->status != MTASTS_STATUS_ERRORED || !had_policy(it, now))
		return;
	answer_from_entry(r, &it->entry, now);
	if (r->policy != NULL) {
		r->error = err;
		r->undecided = false;
	}
}

/*
 * The policy host's certificate is outside its dates, and the domain had
 * an enforce policy, now expired: both are what a clock set forward looks
 * like (every policy lapses at once, every certificate looks expired), so
 * the lapse is not taken as the domain's word: undecided, mail waits, the
 * record stays.  A domain never seen under enforce gets RFC 8461 §5's
 * "no policy" for the same certificate.
 */
static void
suspect_clock(const struct item *it, struct mtasts_lookup *r)
{
	if (r->policy == NULL && r->error.code == MTASTS_ERR_TLS_CERT_TIME &&
	    it->have_entry && it->entry.policy != NULL &&
	    it->entry.policy->mode == MTASTS_MODE_ENFORCE)
		r->undecided = true;
}

/*
 * No policy, from the network or a record of the cache, is no answer for a
 * domain whose enforce policy the cache stored and lost (data.mdb
 * truncated, deleted, restored from an older copy): its witness outlives
 * it (cache_witness.c), and until that policy would have expired the
 * domain waits, as RFC 8461 §5 keeps a policy in force, until the policy
 * is found again or the operator accepts the loss (mtasts cache forget).
 */
static void
vouch(struct lookup_env *env, const struct item *it, struct mtasts_lookup *r,
    int64_t now)
{
	struct mtasts_error err;
	int64_t until;
	char left[64] = "until a time its damaged witness does not say";

	if (r->policy != NULL || r->cache_error.code == MTASTS_ERR_CACHE)
		return;
	if ((until = cache_witnessed(env->cfg, it->domain, &err)) < 0) {
		r->cache_error = err;
		return;
	}
	if (until <= now)
		return;
	if (until != INT64_MAX)
		snprintf(left, sizeof(left), "for %lld more hours",
		    (long long)((until - now + 3599) / 3600));
	mtasts_error_set(&r->cache_error, MTASTS_ERR_CACHE,
	    "the cache lost the enforce policy it held for %s (in force %s, "
	    "by its witness): mail waits until the policy is found again, or "
	    "mtasts cache forget %s",
	    it->domain, left, it->domain);
}

/*
 * Writes the answer unless it would lose what the record may say: a result
 * without a policy never replaces a policy in force or a record that could
 * not be read (it may hold one), and a failure of this host is no answer
 * to remember.
 */
static void
store(struct lookup_env *env, struct item *it, struct mtasts_lookup *r,
    int64_t now, bool force)
{
	struct cache_entry e;
	struct mtasts_error werr;

	if (env->cache == NULL)
		return;
	if (r->policy == NULL &&
	    (had_policy(it, now) || r->cache_error.code != MTASTS_OK ||
	        r->undecided || mtasts_error_is_local(r->error.code)))
		return;
	next_entry(env->cfg, it, r, now, force, &e);
	/* the record was read: this answer stands; that it could not be
	 * kept is said (io_error), and is no reason to defer */
	if (cache_put(env->cache, it->domain, &e, &werr) != MTASTS_OK &&
	    r->cache_error.code == MTASTS_OK)
		mtasts_error_set(&r->cache_error, MTASTS_ERR_IO, "%s%s",
		    werr.code == MTASTS_ERR_IO ? "" : "not stored: ",
		    werr.message);
	/* e borrowed r->policy: nothing to free */
}

/* The domain's record into it->entry; a record that cannot be read is
 * said in r->cache_error (none at all is no error). */
static void
read_entry(struct lookup_env *env, struct item *it, struct mtasts_lookup *r)
{
	struct mtasts_error err;
	mtasts_code rc = cache_get(env->cache, it->domain, &it->entry, &err);

	it->have_entry = rc == MTASTS_OK;
	if (rc != MTASTS_OK && rc != MTASTS_ERR_NOT_CACHED)
		r->cache_error = err;
}

/*
 * Notes that the domain was used, at most once an hour (a write): when
 * the cache is full, the least recently used records go first.
 */
static void
touch(struct lookup_env *env, struct item *it, int64_t now)
{
	struct mtasts_error err;

	if (now - it->entry.used < 3600)
		return;
	it->entry.used = now;
	if (it->entry.uses < 255)
		it->entry.uses++;
	cache_touch(env->cache, it->domain, &it->entry, &err);
}

/* Overrides and fresh cache entries; marks the rest for discovery. */
static void
prepare(struct lookup_env *env, struct item *it, const char *domain, bool force,
    struct mtasts_lookup *r, int64_t now)
{
	char q[80];

	memset(r, 0, sizeof(*r));
	if (domain_normalize(domain, it->domain) != 0) {
		/* said back as printable ASCII: it may be any bytes */
		mtasts_quote(q, sizeof(q), domain, strlen(domain));
		snprintf(r->domain, sizeof(r->domain), "%s", q);
		r->status = MTASTS_STATUS_ERRORED;
		r->undecided = true;
		mtasts_error_set(&r->error, MTASTS_ERR_USAGE,
		    "\"%s\" is not a domain name", q);
		return;
	}
	snprintf(r->domain, sizeof(r->domain), "%s", it->domain);
	it->override = config_override(env->cfg, it->domain);
	if (it->override != NULL && it->override->skip) {
		r->status = MTASTS_STATUS_NOT_FOUND;
		r->source = MTASTS_SOURCE_OVERRIDE;
		r->override = MTASTS_OVERRIDE_SKIP;
		return;
	}
	if (it->override != NULL && it->override->mx_count > 0) {
		answer_static(r, it->override);
		return;
	}
	if (env->cache == NULL)
		r->cache_error = env->cache_error;
	else
		read_entry(env, it, r);
	if (it->have_entry && !force && is_fresh(env->cfg, &it->entry, now)) {
		answer_from_entry(r, &it->entry, now);
		touch(env, it, now);
		return;
	}
	it->discover = true;
}

/*
 * Alone, a process waits for a peer already discovering the domain, then
 * takes the answer it left in the cache: a fresh one, or for a forced
 * lookup one the peer found while this one waited (as new as its own
 * would be).  Returns true when that answered; otherwise the lock is held
 * while this process discovers.
 */
static bool
wait_for_peer(struct lookup_env *env, struct item *it, struct mtasts_lookup *r,
    int64_t now, bool force)
{
	const struct mtasts_config *cfg = env->cfg;
	long wait = 2 * cfg->dns_timeout_ms + cfg->connect_timeout_ms +
	    cfg->fetch_timeout_ms + 1000;
	int waited;

	if (env->cache == NULL ||
	    (waited = cache_lock(env->cache, it->domain, wait)) < 0)
		return false;
	it->locked = true;
	cache_entry_clear(&it->entry);
	read_entry(env, it, r);
	if (it->have_entry &&
	    (force ? waited == 1 && it->entry.checked >= now
	           : is_fresh(cfg, &it->entry, now))) {
		answer_from_entry(r, &it->entry, now);
		return true;
	}
	return false;
}

static void
apply_mode_override(struct item *it, struct mtasts_lookup *r)
{
	if (it->override == NULL || !it->override->has_mode ||
	    it->override->mx_count > 0)
		return;
	r->override = MTASTS_OVERRIDE_MODE;
	if (r->policy != NULL)
		r->policy->mode = it->override->mode;
}

struct discoverer *
lookup_discoverer(struct lookup_env *env, struct mtasts_error *err)
{
	if (env->discoverer == NULL &&
	    (env->discoverer = discoverer_new(env->cfg, err)) != NULL)
		discoverer_set_progress(
		    env->discoverer, env->progress, env->progress_arg);
	return env->discoverer;
}

/* Every discovery ends errored with err (no discoverer could be made). */
static void
fail_all(const char **names, size_t n, struct mtasts_lookup *found,
    const struct mtasts_error *err)
{
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(
		    found[i].domain, sizeof(found[i].domain), "%s", names[i]);
		found[i].status = MTASTS_STATUS_ERRORED;
		found[i].undecided = true;
		found[i].error = *err;
	}
}

void
lookup_run(struct lookup_env *env, const char *const *domains, size_t count,
    bool force, struct mtasts_lookup *results)
{
	/* one domain, the MTAs' case: no allocation */
	struct item one_item;
	const char *one_name;
	const struct mtasts_policy *one_known;
	struct mtasts_lookup one_found;
	bool one = count == 1;
	struct item *items = one ? &one_item : calloc(count, sizeof(*items));
	const char **names = one ? &one_name : calloc(count, sizeof(*names));
	const struct mtasts_policy **known =
	    one ? &one_known : calloc(count, sizeof(*known));
	struct mtasts_lookup *found =
	    one ? &one_found : calloc(count, sizeof(*found));
	int64_t now = wall_now();
	size_t i, n = 0;

	if (one)
		memset(&one_item, 0, sizeof(one_item));
	if (items == NULL || names == NULL || known == NULL || found == NULL) {
		for (i = 0; i < count; i++) {
			memset(&results[i], 0, sizeof(results[i]));
			results[i].status = MTASTS_STATUS_ERRORED;
			results[i].undecided = true;
			mtasts_error_set(&results[i].error, MTASTS_ERR_NOMEM,
			    "out of memory");
		}
		goto out;
	}
	for (i = 0; i < count; i++) {
		prepare(env, &items[i], domains[i], force, &results[i], now);
		if (!items[i].discover)
			continue;
		if (count == 1 &&
		    wait_for_peer(env, &items[i], &results[i], now, force)) {
			items[i].discover = false;
			continue;
		}
		names[n] = items[i].domain;
		/* an expired policy is no policy (RFC 8461 §5.1): the same
		 * id renews only a policy still in force */
		known[n] =
		    had_policy(&items[i], now) ? items[i].entry.policy : NULL;
		n++;
	}
	if (n > 0) {
		struct mtasts_error err;
		struct discoverer *d = lookup_discoverer(env, &err);

		if (one)
			memset(&one_found, 0, sizeof(one_found));
		if (d == NULL)
			fail_all(names, n, found, &err);
		else
			discover_run(d, names, n, known, found, now);
	}
	for (i = 0, n = 0; i < count; i++) {
		struct mtasts_lookup *r = &results[i];

		if (items[i].discover) {
			struct mtasts_error cache_error = r->cache_error;

			*r = found[n++];
			r->cache_error = cache_error;
			keep_known(&items[i], r, now);
			suspect_clock(&items[i], r);
			vouch(env, &items[i], r, now);
			store(env, &items[i], r, now, force);
		} else if (r->source == MTASTS_SOURCE_CACHE) {
			vouch(env, &items[i], r, now);
		}
		apply_mode_override(&items[i], r);
	}
out:
	for (i = 0; items != NULL && i < count; i++) {
		if (items[i].locked)
			cache_unlock(env->cache, items[i].domain);
		cache_entry_clear(&items[i].entry);
	}
	if (!one) {
		free(items);
		free(names);
		free(known);
		free(found);
	}
}
