/*
 * Unit tests of OpenSMTPD's tables (module/smtpd_tables.c): the one reader
 * of a routes line, the lookup of a domain's route, and the tables written
 * from a real cache and the configuration's overrides - which domains are
 * listed, which route each keeps, and that a rewrite of the same content
 * changes nothing.  DNS does not answer (a closed port): routes come
 * from the old routes file, kept while the policy allows the host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"
#include "config.h"
#include "context.h"
#include "domain.h"
#include "error.h"
#include "smtpd_tables.h"
#include "unit.h"

START_TEST(a_route_line_is_read_whole_or_not_at_all)
{
	char domain[MTASTS_DOMAIN_MAX + 1], host[MTASTS_DOMAIN_MAX + 1];
	char line[700];

	ck_assert(smtpd_route_parse(
	    "example.com smtp+tls://mx.example.com:25\n", domain, host));
	ck_assert_str_eq(domain, "example.com");
	ck_assert_str_eq(host, "mx.example.com");
	/* not smtp+tls, another port, no host, a host that is no name */
	ck_assert(!smtpd_route_parse(
	    "example.com smtp://mx.example.com:25\n", domain, host));
	ck_assert(!smtpd_route_parse(
	    "example.com smtp+tls://mx.example.com:26\n", domain, host));
	ck_assert(!smtpd_route_parse(
	    "example.com smtp+tls://mx.example.com:2\n", domain, host));
	ck_assert(!smtpd_route_parse(
	    "example.com smtp+tls://mx.example.com:250\n", domain, host));
	ck_assert(!smtpd_route_parse(
	    "example.com smtp+tls://mx.example.com:25 x\n", domain, host));
	ck_assert(smtpd_route_parse(
	    "example.com smtp+tls://mx.example.com:25", domain, host));
	ck_assert(!smtpd_route_parse("example.com\n", domain, host));
	ck_assert(!smtpd_route_parse(
	    "example.com smtp+tls://mx_bad!:25\n", domain, host));
	ck_assert(!smtpd_route_parse("", domain, host));
	/* a name longer than any domain is refused, never cut to one */
	memset(line, 'a', 300);
	snprintf(line + 300, sizeof(line) - 300,
	    ".example smtp+tls://mx.example.com:25\n");
	ck_assert(!smtpd_route_parse(line, domain, host));
}
END_TEST

/* A cache and its tables in a new directory. */
struct fixture {
	char dir[64], table[128];
	struct mtasts_config *cfg;
	struct mtasts_ctx *ctx;
	struct cache *cache;
};

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
fixture_open(struct fixture *f)
{
	struct mtasts_error err = {0};
	char conf[128], text[512];

	memcpy(f->dir, "/tmp/test_smtpd_tables.XXXXXX", sizeof("/tmp/test_smtpd_tables.XXXXXX"));
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(conf, sizeof(conf), "%s/mtasts.conf", f->dir);
	snprintf(text, sizeof(text),
	    "[mtasts]\ncache_dir = %s/cache\nresolver = 127.0.0.1@9\n"
	    "dns_timeout = 1\n"
	    "[domain static.example]\nmode = enforce\n"
	    "mx = mx.static.example\n"
	    "[domain skipped.example]\nskip = yes\n",
	    f->dir);
	write_text(conf, text);
	ck_assert_int_eq(mtasts_config_load(conf, &f->cfg, &err), MTASTS_OK);
	ck_assert_int_eq(mtasts_ctx_new(f->cfg, &f->ctx, &err), MTASTS_OK);
	f->cache = ctx_cache(f->ctx, &err);
	ck_assert_msg(f->cache != NULL, "%s", err.message);
	snprintf(f->table, sizeof(f->table), "%s/enforce", f->dir);
}

static void
fixture_close(struct fixture *f)
{
	char cmd[128];

	mtasts_ctx_free(f->ctx);
	mtasts_config_free(f->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Caches a policy of mode for domain, expiring at expires. */
static void
cache_policy(struct fixture *f, const char *domain, const char *mode,
    const char *mx, int64_t expires)
{
	struct cache_entry e = {0};
	struct mtasts_error err = {0};
	char body[256];
	int n;

	n = snprintf(body, sizeof(body),
	    "version: STSv1\r\nmode: %s\r\nmx: %s\r\nmax_age: 86400\r\n",
	    mode, mx);
	ck_assert_int_eq(
	    mtasts_policy_parse(body, (size_t)n, &e.policy, NULL), MTASTS_OK);
	snprintf(e.policy->id, sizeof(e.policy->id), "1");
	e.policy->expires = expires;
	e.status = MTASTS_STATUS_FOUND;
	e.checked = e.fetched = (int64_t)time(NULL) - 10;
	ck_assert_msg(cache_put(f->cache, domain, &e, &err) == MTASTS_OK,
	    "%s", err.message);
	cache_entry_clear(&e);
}

static char *
read_text(const char *path)
{
	static char buf[4096];
	FILE *f = fopen(path, "r");
	size_t n;

	ck_assert_ptr_nonnull(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The list holds the enforce domains in force (the cache's, the static
 * ones), never a testing, expired, skipped one; each keeps the route the
 * old file gave it while its policy allows that host. */
START_TEST(the_tables_list_what_is_enforced)
{
	int64_t now = (int64_t)time(NULL);
	struct mtasts_error err = {0};
	struct fixture f;
	char routes[160], host[MTASTS_DOMAIN_MAX + 1];
	const char *list;
	bool changed = false;

	fixture_open(&f);
	cache_policy(&f, "enforced.example", "enforce", "*.enforced.example",
	    now + 86400);
	cache_policy(&f, "moved.example", "enforce", "mx2.moved.example",
	    now + 86400);
	cache_policy(&f, "testing.example", "testing", "mx.testing.example",
	    now + 86400);
	cache_policy(&f, "expired.example", "enforce", "mx.expired.example",
	    now - 1);
	cache_policy(&f, "skipped.example", "enforce", "mx.skipped.example",
	    now + 86400);
	snprintf(routes, sizeof(routes), "%s.routes", f.table);
	write_text(routes,
	    "enforced.example smtp+tls://mx1.enforced.example:25\n"
	    "moved.example smtp+tls://mx1.moved.example:25\n");
	ck_assert_msg(smtpd_tables_write(f.ctx, f.table, &changed, &err) ==
	        MTASTS_OK,
	    "%s", err.message);
	ck_assert(changed);
	list = read_text(f.table);
	ck_assert_ptr_nonnull(strstr(list, "enforced.example\n"));
	ck_assert_ptr_nonnull(strstr(list, "moved.example\n"));
	ck_assert_ptr_nonnull(strstr(list, "static.example\n"));
	ck_assert_ptr_null(strstr(list, "testing.example"));
	ck_assert_ptr_null(strstr(list, "expired.example"));
	ck_assert_ptr_null(strstr(list, "skipped.example"));
	/* the old route the policy still allows is kept */
	ck_assert(smtpd_route_of(f.table, "ENFORCED.example", host));
	ck_assert_str_eq(host, "mx1.enforced.example");
	/* one it no longer allows is gone: that domain waits for DNS,
	 * never relayed to a host outside its policy */
	ck_assert(!smtpd_route_of(f.table, "moved.example", host) ||
	    strcmp(host, "mx1.moved.example") != 0);
	/* a static policy is listed; its route needs DNS, which does not
	 * answer here: none, so its mail waits rather than going where
	 * DNS never said */
	ck_assert(!smtpd_route_of(f.table, "static.example", host));
	ck_assert(!smtpd_route_of(f.table, "testing.example", host));
	/* the same content again: nothing changes */
	ck_assert_int_eq(
	    smtpd_tables_write(f.ctx, f.table, &changed, &err), MTASTS_OK);
	ck_assert(!changed);
	fixture_close(&f);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("smtpd_tables");
	TCase *tc = tcase_create("tables");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, a_route_line_is_read_whole_or_not_at_all);
	tcase_add_test(tc, the_tables_list_what_is_enforced);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
