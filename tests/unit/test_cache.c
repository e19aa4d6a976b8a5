/*
 * Unit tests of the policy cache's door (common/store/cache.c), run
 * against every backend of its table on a real store in a new directory:
 * what put_if_newer must keep (RFC 8461 §5 among it), delete, the walk in
 * domain order, the witness of enforce policies, and the discovery lock
 * between two openings.  A new backend passes these before it is named
 * in cache.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "error.h"
#include "unit.h"

/* A cache of backend name in a new directory. */
struct fixture {
	char dir[64];
	struct mtasts_config *cfg;
	struct cache *cache;
};

static void
fixture_open(struct fixture *f, const char *backend)
{
	struct mtasts_error err = {0};

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_cache.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	ck_assert_int_eq(mtasts_config_load(NULL, &f->cfg, &err), MTASTS_OK);
	free(f->cfg->cache_dir);
	f->cfg->cache_dir = strdup(f->dir);
	f->cfg->cache_backend = strdup(backend);
	f->cache = cache_open(f->cfg, &err);
	ck_assert_msg(f->cache != NULL, "%s: %s", backend, err.message);
}

static void
fixture_close(struct fixture *f)
{
	char cmd[128];

	cache_close(f->cache);
	mtasts_config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	ck_assert_int_eq(system(cmd), 0);
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
	ck_assert_msg(cache_put(f->cache, domain, &e, &err) == MTASTS_OK,
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

	ck_assert_int_eq(cache_get(f->cache, domain, &e, &err), MTASTS_OK);
	snprintf(id, sizeof(id), "%s", e.policy != NULL ? e.policy->id : "");
	cache_entry_clear(&e);
	return id;
}

/* §5: a failure, or "no policy", never ends a policy in force; a newer
 * policy replaces it, an older answer does not, and a record "checked"
 * more than an hour ahead (a clock set back) loses. */
START_TEST(put_if_newer_keeps_what_must_stay)
{
	const char *name = cache_backend_nth((size_t)_i);
	int64_t now = (int64_t)time(NULL);
	struct fixture f;

	fixture_open(&f, name);
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
	const char *name = cache_backend_nth((size_t)_i);
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct fixture f;

	fixture_open(&f, name);
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
	const char *name = cache_backend_nth((size_t)_i);
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct cache_entry e;
	char seen[256] = "";
	struct fixture f;

	fixture_open(&f, name);
	ck_assert_int_eq(cache_get(f.cache, "a.example", &e, &err),
	    MTASTS_ERR_NOT_CACHED);
	put(&f, "c.example", MTASTS_MODE_TESTING, "c", now);
	put(&f, "a.example", MTASTS_MODE_TESTING, "a", now);
	put(&f, "b.example", MTASTS_MODE_NONE, "", now);
	ck_assert_int_eq(cache_each(f.cache, list_domain, seen, &err),
	    MTASTS_OK);
	ck_assert_str_eq(seen, "a.example b.example c.example ");
	ck_assert_int_eq(cache_del(f.cache, "b.example", &err), MTASTS_OK);
	ck_assert_int_eq(cache_del(f.cache, "b.example", &err),
	    MTASTS_ERR_NOT_CACHED);
	ck_assert_int_eq(cache_get(f.cache, "b.example", &e, &err),
	    MTASTS_ERR_NOT_CACHED);
	fixture_close(&f);
}
END_TEST

/* One discovery of a domain at a time between two openings of the cache
 * (two processes, or two of one process): the second waits out its
 * deadline, then takes the lock once it is let go of. */
START_TEST(the_discovery_lock_is_one_holders)
{
	const char *name = cache_backend_nth((size_t)_i);
	struct mtasts_error err = {0};
	struct fixture f;
	struct cache *other;
	uint64_t used = 0, size = 0;

	fixture_open(&f, name);
	other = cache_open(f.cfg, &err);
	ck_assert_ptr_nonnull(other);
	ck_assert_int_eq(cache_lock(f.cache, "a.example", 100), 0);
	ck_assert_int_eq(cache_lock(other, "a.example", 100), -1);
	ck_assert_int_eq(cache_lock(other, "b.example", 100), 0);
	cache_unlock(f.cache, "a.example");
	ck_assert_int_eq(cache_lock(other, "a.example", 100), 0);
	cache_unlock(other, "a.example");
	cache_unlock(other, "b.example");
	ck_assert_int_eq(cache_room(f.cache, &used, &size), 0);
	ck_assert_uint_gt(size, 0);
	ck_assert_uint_le(used, size);
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

int
main(void)
{
	Suite *s = suite_create("cache");
	TCase *tc = tcase_create("every backend");
	int n = 0;

	while (cache_backend_nth((size_t)n) != NULL)
		n++;
	tcase_add_loop_test(tc, put_if_newer_keeps_what_must_stay, 0, n);
	tcase_add_loop_test(tc, enforce_policies_are_witnessed, 0, n);
	tcase_add_loop_test(tc, delete_and_walk, 0, n);
	tcase_add_loop_test(tc, the_discovery_lock_is_one_holders, 0, n);
	tcase_add_test(tc, an_unknown_backend_is_refused);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
