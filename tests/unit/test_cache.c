/*
 * Unit tests of the policy cache's door (common/store/cache.c), run
 * against every backend of its table on a real store in a new directory:
 * what put_if_newer must keep (RFC 8461 §5 among it), delete, the walk in
 * domain order, the witness of enforce policies, and the discovery lock
 * between two openings.  A new backend passes these before it is named
 * in cache.c.  The fleet's store (store/redis/, a real redis-server on a
 * unix socket of the test's directory) passes the same, called directly,
 * and the door's tier over it: a local miss asks the fleet, one
 * discovery per fleet, fleet_strict.
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "cache_backend.h"
#include "config.h"
#include "error.h"
#include "redis.h"
#include "unit.h"
#include "unit_redis.h"

/* The index of the fleet's store in the loops: after the table's. */
static int fleet_index = -1;

/* A cache of backend name in a new directory; for the fleet's store,
 * the Redis backend itself (direct), on a Redis of its own. */
struct fixture {
	char dir[64];
	struct mtasts_config *cfg;
	struct cache *cache;
	const struct cache_backend *direct;
	void *store;
	pid_t redis;
};

/* The configuration of a cache in a new directory (with a fleet on a
 * Redis of its own when fleet). */
static void
fixture_config(struct fixture *f, const char *backend, bool fleet)
{
	struct mtasts_error err = {0};
	char sock[128];

	memset(f, 0, sizeof(*f));
	memcpy(f->dir, "/tmp/test_cache.XXXXXX", sizeof("/tmp/test_cache.XXXXXX"));
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	ck_assert_int_eq(mtasts_config_load(NULL, &f->cfg, &err), MTASTS_OK);
	free(f->cfg->cache_dir);
	f->cfg->cache_dir = strdup(f->dir);
	f->cfg->cache_backend = strdup(backend);
	if (!fleet)
		return;
	f->redis = redis_start(f->dir);
	snprintf(sock, sizeof(sock), "%s/redis.sock", f->dir);
	f->cfg->fleet = FLEET_UNIX;
	f->cfg->fleet_socket = strdup(sock);
}

/* The n-th backend of the loops: the table's, then the fleet's store. */
static void
fixture_open(struct fixture *f, int n)
{
	struct mtasts_error err = {0};
	bool fleet = n == fleet_index;
	const char *backend = fleet ? "lmdb" : cache_backend_nth((size_t)n);

	fixture_config(f, backend, fleet);
	if (fleet) {
		f->direct = &redis_cache_backend;
		f->store = f->direct->open(f->cfg, &err);
		ck_assert_msg(f->store != NULL, "redis: %s", err.message);
		return;
	}
	f->cache = cache_open(f->cfg, &err);
	ck_assert_msg(f->cache != NULL, "%s: %s", backend, err.message);
}

static void
fixture_close(struct fixture *f)
{
	char cmd[128];

	if (f->direct != NULL)
		f->direct->close(f->store);
	cache_close(f->cache);
	redis_stop(f->redis);
	mtasts_config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The door's operations, or the fleet store's called directly. */
static mtasts_code
do_put(struct fixture *f, const char *domain, const struct cache_entry *e,
    struct mtasts_error *err)
{
	bool wrote;

	return f->direct != NULL
	    ? f->direct->put_if_newer(f->store, domain, e, &wrote, err)
	    : cache_put(f->cache, domain, e, err);
}

static mtasts_code
do_get(struct fixture *f, const char *domain, struct cache_entry *e,
    struct mtasts_error *err)
{
	return f->direct != NULL ? f->direct->get(f->store, domain, e, err)
	                         : cache_get(f->cache, domain, e, err);
}

static mtasts_code
do_del(struct fixture *f, const char *domain, struct mtasts_error *err)
{
	return f->direct != NULL ? f->direct->del(f->store, domain, err)
	                         : cache_del(f->cache, domain, err);
}

/* An entry checked at checked: a policy of mode (NULL entry->policy for
 * MTASTS_MODE_NONE) with id, in force for a day. */
static void
entry_of(struct cache_entry *e, enum mtasts_mode mode, const char *id,
    int64_t checked)
{
	char body[256];
	int n;

	memset(e, 0, sizeof(*e));
	e->checked = checked;
	e->fetched = checked;
	if (mode == MTASTS_MODE_NONE) {
		e->status = MTASTS_STATUS_ERRORED;
		mtasts_error_set(&e->error, MTASTS_ERR_DNS, "SERVFAIL");
		return;
	}
	n = snprintf(body, sizeof(body),
	    "version: STSv1\r\nmode: %s\r\nmx: mx.example.com\r\n"
	    "max_age: 86400\r\n",
	    mode == MTASTS_MODE_ENFORCE ? "enforce" : "testing");
	ck_assert_int_eq(
	    mtasts_policy_parse(body, (size_t)n, &e->policy, NULL), MTASTS_OK);
	snprintf(e->policy->id, sizeof(e->policy->id), "%s", id);
	e->policy->expires = checked + 86400;
	e->status = MTASTS_STATUS_FOUND;
}

static void
put(struct fixture *f, const char *domain, enum mtasts_mode mode,
    const char *id, int64_t checked)
{
	struct cache_entry e;
	struct mtasts_error err = {0};

	entry_of(&e, mode, id, checked);
	ck_assert_msg(do_put(f, domain, &e, &err) == MTASTS_OK,
	    "%s", err.message);
	cache_entry_clear(&e);
}

/* The id of the policy the cache holds for domain ("" for none). */
static const char *
held(struct fixture *f, const char *domain)
{
	static char id[64];
	struct cache_entry e;
	struct mtasts_error err = {0};

	ck_assert_int_eq(do_get(f, domain, &e, &err), MTASTS_OK);
	snprintf(id, sizeof(id), "%s", e.policy != NULL ? e.policy->id : "");
	cache_entry_clear(&e);
	return id;
}

/* §5: a failure, or "no policy", never ends a policy in force; a newer
 * policy replaces it, an older answer does not, and a record "checked"
 * more than an hour ahead (a clock set back) loses. */
START_TEST(put_if_newer_keeps_what_must_stay)
{
	int64_t now = (int64_t)time(NULL);
	struct fixture f;

	fixture_open(&f, _i);
	put(&f, "a.example", MTASTS_MODE_ENFORCE, "one", now);
	ck_assert_str_eq(held(&f, "a.example"), "one");
	/* a failure later: the policy stays */
	put(&f, "a.example", MTASTS_MODE_NONE, "", now + 10);
	ck_assert_str_eq(held(&f, "a.example"), "one");
	/* an answer checked before the record: the record stays */
	put(&f, "a.example", MTASTS_MODE_TESTING, "old", now - 10);
	ck_assert_str_eq(held(&f, "a.example"), "one");
	/* a newer policy replaces it */
	put(&f, "a.example", MTASTS_MODE_TESTING, "two", now + 20);
	ck_assert_str_eq(held(&f, "a.example"), "two");
	/* a record from two hours ahead: a clock set back, not a peer */
	put(&f, "b.example", MTASTS_MODE_TESTING, "ahead", now + 7200);
	put(&f, "b.example", MTASTS_MODE_TESTING, "now", now);
	ck_assert_str_eq(held(&f, "b.example"), "now");
	/* an expired policy: "no policy" takes its place */
	put(&f, "c.example", MTASTS_MODE_ENFORCE, "gone", now - 90000);
	put(&f, "c.example", MTASTS_MODE_NONE, "", now);
	ck_assert_str_eq(held(&f, "c.example"), "");
	fixture_close(&f);
}
END_TEST

/* The witness outlives the record: an enforce policy is witnessed with
 * its expiry, and a new policy of another mode ends the witness. */
START_TEST(enforce_policies_are_witnessed)
{
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct fixture f;

	fixture_open(&f, _i);
	put(&f, "a.example", MTASTS_MODE_ENFORCE, "one", now);
	ck_assert_int_eq(cache_witnessed(f.cfg, "a.example", &err), now + 86400);
	/* a testing policy the cache did not take (older) ends nothing */
	put(&f, "a.example", MTASTS_MODE_TESTING, "old", now - 10);
	ck_assert_str_eq(held(&f, "a.example"), "one");
	ck_assert_int_eq(cache_witnessed(f.cfg, "a.example", &err), now + 86400);
	ck_assert_int_eq(cache_del(f.cache, "a.example", &err), MTASTS_OK);
	ck_assert_int_eq(cache_witnessed(f.cfg, "a.example", &err), now + 86400);
	put(&f, "a.example", MTASTS_MODE_TESTING, "two", now + 10);
	ck_assert_int_eq(cache_witnessed(f.cfg, "a.example", &err), 0);
	put(&f, "b.example", MTASTS_MODE_TESTING, "one", now);
	ck_assert_int_eq(cache_witnessed(f.cfg, "b.example", &err), 0);
	fixture_close(&f);
}
END_TEST

static int
list_domain(void *arg, const char *domain, const struct cache_entry *e)
{
	(void)e;
	strcat(arg, domain);
	strcat(arg, " ");
	return 0;
}

START_TEST(delete_and_walk)
{
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct cache_entry e;
	char seen[256] = "";
	struct fixture f;

	fixture_open(&f, _i);
	ck_assert_msg(do_get(&f, "a.example", &e, &err) == MTASTS_ERR_NOT_CACHED,
	    "%s", err.message);
	put(&f, "c.example", MTASTS_MODE_TESTING, "c", now);
	put(&f, "a.example", MTASTS_MODE_TESTING, "a", now);
	put(&f, "b.example", MTASTS_MODE_NONE, "", now);
	ck_assert_int_eq(f.direct != NULL
	        ? f.direct->each(f.store, list_domain, seen, &err)
	        : cache_each(f.cache, list_domain, seen, &err),
	    MTASTS_OK);
	ck_assert_str_eq(seen, "a.example b.example c.example ");
	ck_assert_int_eq(do_del(&f, "b.example", &err), MTASTS_OK);
	ck_assert_int_eq(do_del(&f, "b.example", &err), MTASTS_ERR_NOT_CACHED);
	ck_assert_int_eq(do_get(&f, "b.example", &e, &err),
	    MTASTS_ERR_NOT_CACHED);
	fixture_close(&f);
}
END_TEST

/* The door's lock and room, as the fleet store's are called. */
static int
door_lock(void *c, const char *domain, long timeout_ms)
{
	return cache_lock(c, domain, timeout_ms);
}

static void
door_unlock(void *c, const char *domain)
{
	cache_unlock(c, domain);
}

static int
door_room(void *c, uint64_t *used, uint64_t *size)
{
	return cache_room(c, used, size);
}

/* One discovery of a domain at a time between two openings of the cache
 * (two processes, or two of one process): the second waits out its
 * deadline, then takes the lock once it is let go of. */
START_TEST(the_discovery_lock_is_one_holders)
{
	static const struct cache_backend door = {
	    .lock = door_lock, .unlock = door_unlock, .room = door_room};
	struct mtasts_error err = {0};
	const struct cache_backend *b;
	struct fixture f;
	void *one, *other;
	uint64_t used = 0, size = 0;

	fixture_open(&f, _i);
	b = f.direct != NULL ? f.direct : &door;
	one = f.direct != NULL ? f.store : (void *)f.cache;
	other = f.direct != NULL ? f.direct->open(f.cfg, &err)
	                         : (void *)cache_open(f.cfg, &err);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(b->lock(one, "a.example", 100), 0);
	ck_assert_int_eq(b->lock(other, "a.example", 100), -1);
	ck_assert_int_eq(b->lock(other, "b.example", 100), 0);
	b->unlock(one, "a.example");
	ck_assert_int_eq(b->lock(other, "a.example", 100), 0);
	b->unlock(other, "a.example");
	b->unlock(other, "b.example");
	ck_assert_int_eq(b->room(one, &used, &size), 0);
	ck_assert_uint_gt(size, 0);
	ck_assert_uint_le(used, size);
	if (f.direct != NULL)
		f.direct->close(other);
	else
		cache_close(other);
	fixture_close(&f);
}
END_TEST

START_TEST(an_unknown_backend_is_refused)
{
	struct mtasts_error err = {0};
	struct mtasts_config *cfg;

	ck_assert(!cache_backend_known("lmbd"));
	ck_assert(cache_backend_known(NULL));
	ck_assert_int_eq(mtasts_config_load(NULL, &cfg, &err), MTASTS_OK);
	cfg->cache_backend = strdup("lmbd");
	ck_assert_ptr_null(cache_open(cfg, &err));
	/* a cache that cannot be opened, never taken for "no policy" */
	ck_assert_int_eq(err.code, MTASTS_ERR_CACHE);
	ck_assert_ptr_nonnull(strstr(err.message, "cache_backend lmbd"));
	mtasts_config_free(cfg);
}
END_TEST

/* Sets the fleet's key of domain to what a damaged or foreign writer
 * may leave: fields that do not parse, or a key of another type. */
static void
damage(struct fixture *f, const char *domain, bool hash)
{
	struct mtasts_error err = {0};
	char key[300];
	const char *del[] = {"DEL", key};
	const char *hset[] = {"HSET", key, "record", "MS\x03junk", "checked",
	    "1e9", "expires", "x"};
	const char *set[] = {"SET", key, "not a hash"};

	snprintf(key, sizeof(key), "mtasts:policy:%s", domain);
	redis_free(f->store, redis_run(f->store, 2, del, NULL, &err));
	redis_free(f->store, hash ? redis_run(f->store, 8, hset, NULL, &err)
	                          : redis_run(f->store, 3, set, NULL, &err));
	ck_assert_msg(err.code == MTASTS_OK, "%s", err.message);
}

/* What the fleet holds is hostile input: fields that do not read are a
 * damaged record (MTASTS_ERR_CACHE, never "not cached"), which an answer
 * without a policy never replaces (it may hold one) and a policy does. */
START_TEST(a_damaged_fleet_record_may_hold_a_policy)
{
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct cache_entry e;
	struct fixture f;
	int i;

	fixture_open(&f, fleet_index);
	for (i = 0; i < 2; i++) {
		damage(&f, "d.example", i == 0);
		ck_assert_int_eq(do_get(&f, "d.example", &e, &err),
		    MTASTS_ERR_CACHE);
		ck_assert_ptr_nonnull(strstr(err.message,
		    i == 0 ? "damaged" : "WRONGTYPE"));
		put(&f, "d.example", MTASTS_MODE_NONE, "", now);
		ck_assert_int_eq(do_get(&f, "d.example", &e, &err),
		    MTASTS_ERR_CACHE);
		put(&f, "d.example", MTASTS_MODE_ENFORCE, "new", now);
		ck_assert_str_eq(held(&f, "d.example"), "new");
	}
	fixture_close(&f);
}
END_TEST

/* Two nodes of one fleet: a (which runs the Redis) and b, each with a
 * directory of its own. */
static void
two_nodes(struct fixture *a, struct fixture *b, bool b_strict)
{
	struct mtasts_error err = {0};

	fixture_config(a, "lmdb", true);
	a->cache = cache_open(a->cfg, &err);
	ck_assert_msg(a->cache != NULL, "%s", err.message);
	fixture_config(b, "lmdb", false);
	b->cfg->fleet = FLEET_UNIX;
	b->cfg->fleet_socket = strdup(a->cfg->fleet_socket);
	b->cfg->fleet_strict = b_strict;
	b->cache = cache_open(b->cfg, &err);
	ck_assert_msg(b->cache != NULL, "%s", err.message);
}

/* RFC 8461 §5 across the fleet: what node A learned, node B (which never
 * saw the domain) finds on its local miss, and keeps when the fleet is
 * gone; and the fleet keeps its policy against B's "no policy". */
START_TEST(a_local_miss_asks_the_fleet)
{
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct fixture a, b;
	struct cache_entry e;
	void *fleet;

	two_nodes(&a, &b, false);
	put(&a, "a.example", MTASTS_MODE_ENFORCE, "one", now);
	ck_assert_str_eq(held(&b, "a.example"), "one");
	/* B's witness too: it is B's cache that holds it now */
	ck_assert_int_eq(cache_witnessed(b.cfg, "a.example", &err), now + 86400);
	/* an answer without a policy replaces it neither here nor in the
	 * fleet, where a third node finds it */
	put(&b, "a.example", MTASTS_MODE_NONE, "", now + 10);
	ck_assert_str_eq(held(&b, "a.example"), "one");
	fleet = redis_cache_backend.open(b.cfg, &err);
	ck_assert_int_eq(redis_cache_backend.get(fleet, "a.example", &e, &err),
	    MTASTS_OK);
	ck_assert_str_eq(e.policy->id, "one");
	cache_entry_clear(&e);
	redis_cache_backend.close(fleet);
	redis_stop(a.redis);
	a.redis = 0;
	ck_assert_str_eq(held(&b, "a.example"), "one");
	/* the fleet gone: a miss is a miss, and a write is kept here with
	 * the fleet's failure said */
	ck_assert_int_eq(cache_get(b.cache, "b.example", &e, &err),
	    MTASTS_ERR_NOT_CACHED);
	entry_of(&e, MTASTS_MODE_TESTING, "t", now);
	ck_assert_int_eq(cache_put(b.cache, "b.example", &e, &err),
	    MTASTS_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err.message, "not shared with the fleet"));
	cache_entry_clear(&e);
	ck_assert_str_eq(held(&b, "b.example"), "t");
	fixture_close(&b);
	fixture_close(&a);
}
END_TEST

/* A peer's record never ends what this node vouches for: with this
 * node's witness of an enforce policy in force, a peer's "testing" is not
 * taken (the node discovers for itself, and lookups hold the domain if
 * the network says nothing) and the witness stays; a peer's enforce
 * policy is taken.  Nor is a record whose times claim more than any
 * answer could (checked two hours ahead of this clock). */
START_TEST(a_peer_record_never_ends_a_witness)
{
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct fixture a, b;
	struct cache_entry e;

	two_nodes(&a, &b, false);
	ck_assert_int_eq(
	    cache_witness_keep(b.cfg, "w.example", now + 86400, &err), 0);
	put(&a, "w.example", MTASTS_MODE_TESTING, "weak", now);
	ck_assert_int_eq(cache_get(b.cache, "w.example", &e, &err),
	    MTASTS_ERR_NOT_CACHED);
	ck_assert_int_eq(cache_witnessed(b.cfg, "w.example", &err), now + 86400);
	put(&a, "w.example", MTASTS_MODE_ENFORCE, "strong", now + 10);
	ck_assert_str_eq(held(&b, "w.example"), "strong");
	/* from a clock two hours ahead: not taken */
	put(&a, "f.example", MTASTS_MODE_TESTING, "ahead", now + 7200);
	ck_assert_int_eq(cache_get(b.cache, "f.example", &e, &err),
	    MTASTS_ERR_NOT_CACHED);
	fixture_close(&b);
	fixture_close(&a);
}
END_TEST

/* Sets the fleet's record of domain to e, with the numbers beside it
 * that agree with it: what a peer, or anyone who can write the fleet's
 * keys, may leave there, however impossible its times. */
static void
forge(void *fleet, const char *domain, const struct cache_entry *e)
{
	struct mtasts_error err = {0};
	char key[300], checked[24], expires[24];
	const char *hset[] = {"HSET", key, "record", NULL, "checked", checked,
	    "expires", expires};
	unsigned char *data;
	size_t len[8];
	int i;

	ck_assert_int_eq(record_encode(e, &data, &len[3]), 0);
	snprintf(key, sizeof(key), "mtasts:policy:%s", domain);
	snprintf(checked, sizeof(checked), "%lld", (long long)e->checked);
	snprintf(expires, sizeof(expires), "%lld",
	    e->policy != NULL ? (long long)e->policy->expires : 0LL);
	hset[3] = (const char *)data;
	for (i = 0; i < 8; i++)
		if (i != 3)
			len[i] = strlen(hset[i]);
	redis_free(fleet, redis_run(fleet, 8, hset, len, &err));
	free(data);
	ck_assert_msg(err.code == MTASTS_OK, "%s", err.message);
}

/* The refresh's test of a peer's record (cmd_refresh.c fresh()). */
static bool
checked_lately(void *arg, const struct cache_entry *e)
{
	return *(const int64_t *)arg - e->checked < 43200;
}

/* A peer's record whose times no answer could have (before 1970, or
 * beyond any int64 sum with this clock) is not taken, neither by a
 * lookup's miss nor by the shared refresh: its numbers would overflow
 * this node's arithmetic (now - checked, now - used), and wrapped, an
 * enforce policy expired since 1970 read as checked a moment ago.  Nor
 * does the refresh take one older than this node's own. */
START_TEST(a_peer_record_of_impossible_times_is_not_taken)
{
	static const struct {
		size_t at; /* offset of the int64 in struct cache_entry */
		int64_t value;
	} forged[] = {
	    {offsetof(struct cache_entry, checked), INT64_MIN + 1},
	    {offsetof(struct cache_entry, checked), -86400},
	    {offsetof(struct cache_entry, used), INT64_MIN},
	    {offsetof(struct cache_entry, used), INT64_MAX},
	    {offsetof(struct cache_entry, fetched), INT64_MIN},
	    {offsetof(struct cache_entry, next_try), INT64_MIN},
	};
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct fixture a, b;
	struct cache_entry e;
	char domain[32];
	void *fleet;
	size_t i;

	two_nodes(&a, &b, false);
	fleet = redis_cache_backend.open(a.cfg, &err);
	for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		snprintf(domain, sizeof(domain), "t%zu.example", i);
		entry_of(&e, MTASTS_MODE_ENFORCE, "forged", now);
		e.used = now;
		memcpy((char *)&e + forged[i].at, &forged[i].value,
		    sizeof(int64_t));
		if (forged[i].at == offsetof(struct cache_entry, checked))
			e.policy->expires = e.checked + 86400;
		forge(fleet, domain, &e);
		cache_entry_clear(&e);
		ck_assert_msg(cache_share(b.cache, domain, checked_lately, &now,
		                  1000) != CACHE_SHARE_TAKEN,
		    "%s taken by the refresh", domain);
		cache_share_done(b.cache, domain);
		ck_assert_msg(cache_get(b.cache, domain, &e, &err) ==
		        MTASTS_ERR_NOT_CACHED,
		    "%s taken on a miss", domain);
	}
	/* nor one older than this node's own (a fleet restored from an
	 * older snapshot, a replica promoted before it caught up):
	 * put_if_newer's rule takes a record checked over an hour after
	 * the answer for a clock set back, and a replaced policy came back */
	put(&b, "o.example", MTASTS_MODE_ENFORCE, "new", now - 1000);
	entry_of(&e, MTASTS_MODE_ENFORCE, "old", now - 10000);
	forge(fleet, "o.example", &e);
	cache_entry_clear(&e);
	ck_assert_int_ne(
	    cache_share(b.cache, "o.example", checked_lately, &now, 1000),
	    CACHE_SHARE_TAKEN);
	cache_share_done(b.cache, "o.example");
	ck_assert_str_eq(held(&b, "o.example"), "new");
	redis_cache_backend.close(fleet);
	fixture_close(&b);
	fixture_close(&a);
}
END_TEST

/* Keys of their own for the longest names: a fleet_name of 64 and a
 * domain of 253 characters still name one domain's claim, not two. */
START_TEST(the_longest_names_have_keys_of_their_own)
{
	char name[65], one[254], other[254];
	struct mtasts_error err = {0};
	struct fixture f;

	memset(name, 'n', 64);
	name[64] = '\0';
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 */
	snprintf(one, sizeof(one), "%063d.%063d.%063d.%061d", 0, 0, 0, 1);
	snprintf(other, sizeof(other), "%063d.%063d.%063d.%061d", 0, 0, 0, 2);
	ck_assert_uint_eq(strlen(one), MTASTS_DOMAIN_MAX);
	fixture_config(&f, "lmdb", true);
	free(f.cfg->fleet_name);
	f.cfg->fleet_name = strdup(name);
	f.direct = &redis_cache_backend;
	f.store = redis_cache_backend.open(f.cfg, &err);
	ck_assert_ptr_nonnull(f.store);
	ck_assert_int_eq(redis_cache_backend.claim(f.store, one, 1000), 1);
	ck_assert_int_eq(redis_cache_backend.claim(f.store, other, 1000), 1);
	ck_assert_int_eq(redis_cache_backend.lock(f.store, one, 100), 0);
	ck_assert_int_eq(redis_cache_backend.lock(f.store, other, 100), 0);
	redis_cache_backend.unlock(f.store, one);
	redis_cache_backend.unlock(f.store, other);
	fixture_close(&f);
}
END_TEST

/* fleet_strict: a local miss the fleet cannot answer is an unreadable
 * cache, never "not cached" (lookups then defer a domain the network
 * says has no policy); what the local cache holds still answers. */
START_TEST(fleet_strict_makes_an_unanswered_miss_an_error)
{
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct fixture a, b;
	struct cache_entry e;

	two_nodes(&a, &b, true);
	ck_assert_int_eq(cache_get(b.cache, "a.example", &e, &err),
	    MTASTS_ERR_NOT_CACHED);
	put(&b, "b.example", MTASTS_MODE_TESTING, "here", now);
	redis_stop(a.redis);
	a.redis = 0;
	ck_assert_int_eq(cache_get(b.cache, "a.example", &e, &err),
	    MTASTS_ERR_CACHE);
	ck_assert_ptr_nonnull(strstr(err.message, "fleet_strict"));
	ck_assert_ptr_nonnull(strstr(err.message, "redis+unix://"));
	ck_assert_str_eq(held(&b, "b.example"), "here");
	fixture_close(&b);
	fixture_close(&a);
}
END_TEST

/* One discovery per fleet: a node waits on the lock a peer node holds,
 * and takes it (1: re-read the cache) once the peer lets go. */
START_TEST(one_discovery_per_fleet)
{
	struct fixture a, b;
	pid_t child;
	int status;

	two_nodes(&a, &b, false);
	ck_assert_int_eq(cache_lock(a.cache, "a.example", 5000), 0);
	if ((child = fork()) == 0)
		_exit(cache_lock(b.cache, "a.example", 5000) == 1 ? 0 : 1);
	usleep(300000);
	cache_unlock(a.cache, "a.example");
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fixture_close(&b);
	fixture_close(&a);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("every backend");
	TCase *fleet = tcase_create("the fleet");
	int n = 0;

	while (cache_backend_nth((size_t)n) != NULL)
		n++;
	tcase_add_loop_test(tc, enforce_policies_are_witnessed, 0, n);
	/* the fleet's store too, when this host has a redis-server */
	if (redis_server() != NULL)
		fleet_index = n++;
	else
		printf("no redis-server (tools/deps unpacks one): the fleet's "
		       "store is not tested\n");
	tcase_add_loop_test(tc, put_if_newer_keeps_what_must_stay, 0, n);
	tcase_add_loop_test(tc, delete_and_walk, 0, n);
	tcase_add_loop_test(tc, the_discovery_lock_is_one_holders, 0, n);
	tcase_add_test(tc, an_unknown_backend_is_refused);
	suite_add_tcase(s, tc);
	if (fleet_index >= 0) {
		tcase_set_timeout(fleet, 30);
		tcase_add_test(fleet, a_damaged_fleet_record_may_hold_a_policy);
		tcase_add_test(fleet, a_peer_record_never_ends_a_witness);
		tcase_add_test(fleet, a_peer_record_of_impossible_times_is_not_taken);
		tcase_add_test(fleet, the_longest_names_have_keys_of_their_own);
		tcase_add_test(fleet, a_local_miss_asks_the_fleet);
		tcase_add_test(fleet, fleet_strict_makes_an_unanswered_miss_an_error);
		tcase_add_test(fleet, one_discovery_per_fleet);
		suite_add_tcase(s, fleet);
	}
	return unit_run(s);
}
