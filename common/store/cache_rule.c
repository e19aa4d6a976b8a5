/*
 * cache_rule.c - which of two answers for a domain the cache keeps, the
 * same for every backend (cache_backend.h, put_if_newer).
 */
#include "cache_backend.h"

/*
 * A record checked at then is newer than an answer checked at now: later,
 * but not so much later that only a clock set back explains it (such a
 * record would otherwise win against every answer until the clock caught
 * up).
 */
static bool
is_newer(int64_t then, int64_t now)
{
	return then > now && then - now <= 3600;
}

/* What an old record holds that an answer without a policy must not
 * replace: a policy in force at now, or bytes that do not decode (they
 * may hold one). */
static bool
holds_policy(const unsigned char *old, size_t len, int64_t now)
{
	struct cache_entry e;
	bool holds;

	if (record_decode(old, len, &e) != 0) {
		cache_entry_clear(&e);
		return true;
	}
	holds = e.policy != NULL && e.policy->expires > now;
	cache_entry_clear(&e);
	return holds;
}

bool
cache_record_stays(const unsigned char *old, size_t len, int64_t checked,
    bool has_policy)
{
	/* a peer's answer checked after this one began is newer */
	return is_newer(record_checked(old, len), checked) ||
	    /* RFC 8461 §5.1: failures never end a policy early */
	    (!has_policy && holds_policy(old, len, checked));
}
