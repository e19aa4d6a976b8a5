/* Unit tests of the TLS-RPT store's door (common/tlsrpt/tlsrpt_store.c),
 * run against every backend: LMDB in a temporary directory, and the
 * fleet's Redis (a real redis-server of the test's own on a unix
 * socket): counts, the bound on detail rows, concurrent writers and a
 * writer killed in the middle, delivery states; a full map (LMDB's
 * tlsrpt_size); and what only the fleet has: the offset committed with
 * the counts, a node name two hosts share, the claim of a report, Redis
 * gone, keys of another type. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crc32.h"
#include "redis.h"
#include "mtasts.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_store.h"
#include "unit.h"
#include "unit_redis.h"

static const char DAY[] = "2026-12-01";

/* The backends of the loops, by index: the fleet's is chosen by fleet
 * being set, as an operator's would be. */
enum { LMDB, REDIS, BACKENDS };
static pid_t redis = -1; /* the test's redis-server (each test forks) */
static char redis_dir[64];

/* The test's Redis (one per test: every node of it shares it). */
static void
redis_up(void)
{
	if (redis > 0)
		return;
	memcpy(redis_dir, "/tmp/mtasts-redis-XXXXXX", 25);
	ck_assert_ptr_nonnull(mkdtemp(redis_dir));
	redis = redis_start(redis_dir);
}

static void
redis_down(void)
{
	char cmd[128];

	if (redis <= 0)
		return;
	redis_stop(redis);
	redis = -1;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", redis_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* A configuration whose store, of backend n, is in a new directory (a
 * node of the test's fleet for REDIS). */
static struct mtasts_config *
config_of(int n, const char *extra)
{
	char dir[] = "/tmp/mtasts-tlsrpt-XXXXXX", path[64], text[1024];
	char fleet[256] = "";
	struct mtasts_config *cfg;
	struct mtasts_error err;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	if (n == REDIS) {
		redis_up();
		snprintf(fleet, sizeof(fleet),
		    "fleet = redis+unix://%s/redis.sock\nfleet_name = t\n",
		    redis_dir);
	}
	snprintf(path, sizeof(path), "%s/mtasts.conf", dir);
	snprintf(text, sizeof(text),
	    "[mtasts]\ncache_dir = %s/cache\ntlsrpt = yes\n%s%s", dir, fleet,
	    extra);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(mtasts_config_load(path, &cfg, &err), MTASTS_OK);
	return cfg;
}

static struct mtasts_config *
config(const char *extra)
{
	return config_of(LMDB, extra);
}

static struct tlsrpt_session
session(const char *domain, const char *result, const char *mx)
{
	struct tlsrpt_session x = {.domain = domain,
	    .sts = true,
	    .policy = "version: STSv1\nmode: enforce\nmx: *.example.com\n"
	              "max_age: 86400",
	    .result = result,
	    .sending_ip = "192.0.2.1",
	    .mx_host = mx,
	    .receiving_ip = "198.51.100.7"};
	return x;
}

/* The one policy of domain on DAY. */
static json_t *
policy_of(struct tlsrpt_store *s, const char *domain, json_t **day)
{
	struct mtasts_error err;

	*day = tlsrpt_store_day(s, DAY, domain, &err);
	ck_assert_ptr_nonnull(*day);
	ck_assert_int_eq(json_array_size(json_object_get(*day, domain)), 1);
	return json_array_get(json_object_get(*day, domain), 0);
}

static json_int_t
num(json_t *p, const char *key)
{
	return json_integer_value(json_object_get(p, key));
}

START_TEST(sessions_are_counted)
{
	struct mtasts_config *cfg = config_of(_i, "");
	struct mtasts_error err;
	struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
	struct tlsrpt_session ok = session("example.com", NULL, "mx1.example.com"),
			      bad = session("example.com",
				  "starttls-not-supported", "mx2.example.com");
	json_t *day, *p, *d;
	int i;

	ck_assert_ptr_nonnull(s);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(tlsrpt_store_add(s, DAY, &ok, &err), MTASTS_OK);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(tlsrpt_store_add(s, DAY, &bad, &err), MTASTS_OK);
	p = policy_of(s, "example.com", &day);
	ck_assert_str_eq(json_string_value(json_object_get(p, "type")), "sts");
	ck_assert_int_eq(num(p, "success"), 3);
	ck_assert_int_eq(num(p, "failure"), 2);
	ck_assert_int_eq(json_array_size(json_object_get(p, "details")), 1);
	d = json_array_get(json_object_get(p, "details"), 0);
	ck_assert_str_eq(json_string_value(json_object_get(d, "result")),
	    "starttls-not-supported");
	ck_assert_str_eq(json_string_value(json_object_get(d, "mx_host")),
	    "mx2.example.com");
	ck_assert_int_eq(num(d, "count"), 2);
	json_decref(day);
	/* another day holds nothing of it */
	day = tlsrpt_store_day(s, "2026-12-02", NULL, &err);
	ck_assert_int_eq(json_object_size(day), 0);
	json_decref(day);
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(hostile_fields_are_refused)
{
	struct mtasts_config *cfg = config_of(_i, "");
	struct mtasts_error err;
	struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
	struct tlsrpt_session x = session("example.com", NULL, "mx 1.example");
	json_t *day;

	ck_assert_int_eq(tlsrpt_store_add(s, DAY, &x, &err), MTASTS_ERR_USAGE);
	x = session("exa\nmple.com", NULL, "mx1.example.com");
	ck_assert_int_eq(tlsrpt_store_add(s, DAY, &x, &err), MTASTS_ERR_USAGE);
	x = session("", NULL, "mx1.example.com");
	ck_assert_int_eq(tlsrpt_store_add(s, DAY, &x, &err), MTASTS_ERR_USAGE);
	day = tlsrpt_store_day(s, DAY, NULL, &err);
	ck_assert_int_eq(json_object_size(day), 0);
	json_decref(day);
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(detail_rows_are_bounded)
{
	struct mtasts_config *cfg = config_of(_i, "tlsrpt_details = 10\n");
	struct mtasts_error err;
	struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
	json_t *day, *p;
	char mx[64];
	int i;

	for (i = 0; i < 25; i++) {
		struct tlsrpt_session x;

		snprintf(mx, sizeof(mx), "mx%d.example.com", i);
		x = session("example.com", "certificate-expired", mx);
		ck_assert_int_eq(tlsrpt_store_add(s, DAY, &x, &err), MTASTS_OK);
	}
	p = policy_of(s, "example.com", &day);
	ck_assert_int_eq(num(p, "failure"), 25);
	ck_assert_int_eq(json_array_size(json_object_get(p, "details")), 10);
	ck_assert_int_eq(num(p, "dropped"), 15);
	json_decref(day);
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(a_full_store_refuses_and_keeps_what_it_has)
{
	struct mtasts_config *cfg = config("tlsrpt_size = 1\n");
	struct mtasts_error err;
	struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
	mtasts_code rc = MTASTS_OK;
	json_t *day, *p;
	char domain[64];
	int i;

	/* distinct domains until the map is full */
	for (i = 0; i < 100000 && rc == MTASTS_OK; i++) {
		struct tlsrpt_session x;

		snprintf(domain, sizeof(domain), "d%d.example.com", i);
		x = session(domain, "validation-failure", "mx.example.com");
		rc = tlsrpt_store_add(s, DAY, &x, &err);
	}
	ck_assert_int_eq(rc, MTASTS_ERR_CACHE);
	ck_assert_ptr_nonnull(strstr(err.message, "full"));
	ck_assert_int_gt(i, 100);
	p = policy_of(s, "d0.example.com", &day);
	ck_assert_int_eq(num(p, "failure"), 1);
	json_decref(day);
	/* what is reported and pruned makes room again */
	ck_assert_int_eq(tlsrpt_store_prune(s, "2026-12-02", &err), MTASTS_OK);
	{
		struct tlsrpt_session x = session("again.example", NULL, "mx");

		ck_assert_int_eq(tlsrpt_store_add(s, "2026-12-02", &x, &err),
		    MTASTS_OK);
	}
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

/* Adds n successes of example.com in a new process. */
static pid_t
writer(const struct mtasts_config *cfg, int n)
{
	pid_t pid = fork();

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct mtasts_error err;
		struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
		struct tlsrpt_session x =
		    session("example.com", NULL, "mx1.example.com");
		int i;

		for (i = 0; i < n; i++)
			if (s == NULL || tlsrpt_store_add(s, DAY, &x, &err) !=
			        MTASTS_OK)
				_exit(1);
		_exit(0);
	}
	return pid;
}

START_TEST(concurrent_writers_lose_nothing)
{
	struct mtasts_config *cfg = config_of(_i, "");
	struct mtasts_error err;
	struct tlsrpt_store *s;
	pid_t pids[4];
	json_t *day, *p;
	int i, status;

	tlsrpt_store_close(tlsrpt_store_open(cfg, &err));
	for (i = 0; i < 4; i++)
		pids[i] = writer(cfg, 500);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	s = tlsrpt_store_open(cfg, &err);
	p = policy_of(s, "example.com", &day);
	ck_assert_int_eq(num(p, "success"), 2000);
	json_decref(day);
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(a_killed_writer_leaves_a_usable_store)
{
	struct mtasts_config *cfg = config_of(_i, "");
	struct mtasts_error err;
	struct tlsrpt_store *s;
	struct tlsrpt_session x = session("example.com", NULL, "mx1.example.com");
	pid_t pid = writer(cfg, 1000000);
	json_t *day, *p;
	json_int_t before;
	int status;

	usleep(200000);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ck_assert(WIFSIGNALED(status));
	s = tlsrpt_store_open(cfg, &err);
	ck_assert_ptr_nonnull(s);
	p = policy_of(s, "example.com", &day);
	before = num(p, "success");
	ck_assert_int_gt(before, 0);
	json_decref(day);
	/* its write lock died with it */
	ck_assert_int_eq(tlsrpt_store_add(s, DAY, &x, &err), MTASTS_OK);
	p = policy_of(s, "example.com", &day);
	ck_assert_int_eq(num(p, "success"), before + 1);
	json_decref(day);
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(states_are_kept_per_rua)
{
	struct mtasts_config *cfg = config_of(_i, "");
	struct mtasts_error err;
	struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
	char state[64];

	ck_assert_int_eq(tlsrpt_store_state(s, DAY, "example.com",
	                     "mailto:a@example.net", state, sizeof(state), &err),
	    MTASTS_OK);
	ck_assert_str_eq(state, "");
	ck_assert_int_eq(tlsrpt_store_set_state(s, DAY, "example.com",
	                     "mailto:a@example.net", "sent 1", &err),
	    MTASTS_OK);
	tlsrpt_store_state(s, DAY, "example.com", "mailto:a@example.net",
	    state, sizeof(state), &err);
	ck_assert_str_eq(state, "sent 1");
	tlsrpt_store_state(s, DAY, "example.com", "https://example.net/r",
	    state, sizeof(state), &err);
	ck_assert_str_eq(state, "");
	ck_assert_int_eq(tlsrpt_store_prune(s, "2026-12-02", &err), MTASTS_OK);
	tlsrpt_store_state(s, DAY, "example.com", "mailto:a@example.net",
	    state, sizeof(state), &err);
	ck_assert_str_eq(state, "");
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

/* The policy a delivery applied, as a spool line holds it: written and
 * read back the same; anything else refused. */
START_TEST(applied_policies_round_trip)
{
	static const char *const bad[] = {"", "-", "1:none:86400:mx.a.example",
	    "1:enforce:86400:", "1:enforce:86400:mx.a.example,",
	    "1:enforce:86400:,mx.a.example", "1:enforce:31557601:mx.a.example",
	    "1:enforce:-1:mx.a.example", "1:enforce::mx.a.example",
	    "a_b:enforce:1:mx.a.example", "1:enforce:1:mx..a.example",
	    "123456789012345678901234567890123:testing:1:mx.a.example",
	    "1:testing:1:mx.a.example extra", "1:Testing:1:mx.a.example"};
	struct mtasts_policy *p, *q;
	char word[TLSRPT_APPLIED_MAX];
	size_t i;

	p = tlsrpt_applied_parse("20261122:testing:86400:mx.a.example,*.b.example");
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->id, "20261122");
	ck_assert_int_eq(p->mode, MTASTS_MODE_TESTING);
	ck_assert_uint_eq(p->max_age, 86400);
	ck_assert_uint_eq(p->mx_count, 2);
	ck_assert_str_eq(p->mx[1], "*.b.example");
	ck_assert_int_eq(tlsrpt_applied_format(p, word, sizeof(word)), 0);
	ck_assert_str_eq(word, "20261122:testing:86400:mx.a.example,*.b.example");
	ck_assert_int_eq(tlsrpt_applied_format(p, word, 20), -1);
	q = tlsrpt_applied_parse("-:enforce:0:mx.a.example");
	ck_assert_ptr_nonnull(q);
	ck_assert_str_eq(q->id, "");
	mtasts_policy_free(p);
	mtasts_policy_free(q);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(tlsrpt_applied_parse(bad[i]) == NULL, "%s", bad[i]);
}
END_TEST

/* The word an MTA keeps from its decision for the transport: the
 * policy of a testing or enforce verdict under the domain's own policy,
 * made from the decision alone; nothing for any other, nor without
 * tlsrpt. */
START_TEST(applied_word_of_a_decision)
{
	static const char body[] = "version: STSv1\nmode: enforce\n"
	                           "mx: mx.a.example\nmx: *.b.example\n"
	                           "max_age: 604800\n";
	struct mtasts_config *cfg = config(""), *off;
	/* a decision as the library makes one, by hand (white box) */
	struct mtasts_lookup lookup = {0};
	struct mtasts_decision d = {.lookup = &lookup};
	struct mtasts_error err;
	struct mtasts_ctx *ctx, *ctx_off;
	char word[TLSRPT_APPLIED_MAX], path[] = "/tmp/mtasts-applied-XXXXXX";
	int fd;

	ck_assert_int_eq(mtasts_ctx_new(cfg, &ctx, &err), MTASTS_OK);
	ck_assert_int_eq(
	    mtasts_policy_parse(body, strlen(body), &lookup.policy, &err),
	    MTASTS_OK);
	snprintf(lookup.policy->id, sizeof(lookup.policy->id), "id2");
	snprintf(lookup.domain, sizeof(lookup.domain), "a.example");
	d.verdict = MTASTS_VERDICT_ENFORCE;
	ck_assert_int_eq(
	    mtasts_tlsrpt_applied_of(ctx, &d, word, sizeof(word)), MTASTS_OK);
	ck_assert_str_eq(word, "id2:enforce:604800:mx.a.example,*.b.example");
	/* too long to hand on: nothing, never a cut word */
	ck_assert_int_eq(mtasts_tlsrpt_applied_of(ctx, &d, word, 20), MTASTS_OK);
	ck_assert_str_eq(word, "");
	lookup.override = MTASTS_OVERRIDE_MODE;
	mtasts_tlsrpt_applied_of(ctx, &d, word, sizeof(word));
	ck_assert_str_eq(word, "");
	lookup.override = MTASTS_OVERRIDE_NONE;
	d.verdict = MTASTS_VERDICT_DEFER;
	mtasts_tlsrpt_applied_of(ctx, &d, word, sizeof(word));
	ck_assert_str_eq(word, "");
	d.verdict = MTASTS_VERDICT_NONE;
	mtasts_tlsrpt_applied_of(ctx, &d, word, sizeof(word));
	ck_assert_str_eq(word, "");
	d.verdict = MTASTS_VERDICT_TESTING;
	mtasts_tlsrpt_applied_of(ctx, &d, word, sizeof(word));
	ck_assert_str_eq(word, "id2:enforce:604800:mx.a.example,*.b.example");
	/* without tlsrpt there is nothing to keep */
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, "[mtasts]\ntlsrpt = no\n", 21), 21);
	close(fd);
	ck_assert_int_eq(mtasts_config_load(path, &off, &err), MTASTS_OK);
	ck_assert_int_eq(mtasts_ctx_new(off, &ctx_off, &err), MTASTS_OK);
	mtasts_tlsrpt_applied_of(ctx_off, &d, word, sizeof(word));
	ck_assert_str_eq(word, "");
	ck_assert_int_eq(mtasts_tlsrpt_applied_of(NULL, &d, word, sizeof(word)),
	    MTASTS_ERR_USAGE);
	ck_assert_int_eq(
	    mtasts_tlsrpt_applied_of(ctx, NULL, word, sizeof(word)),
	    MTASTS_ERR_USAGE);
	ck_assert_int_eq(
	    mtasts_tlsrpt_applied_of(ctx, &d, NULL, 0), MTASTS_ERR_USAGE);
	unlink(path);
	mtasts_policy_free(lookup.policy);
	mtasts_ctx_free(ctx_off);
	mtasts_config_free(off);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
}
END_TEST

/* The order of the policy's lines (line_of) rides in the word as a fifth
 * part, ":V,M,A", when it is not the canonical one; a word without it (as
 * the version before wrote) reads in the canonical order; anything but
 * three distinct positions within the policy's lines is refused. */
START_TEST(applied_word_keeps_the_published_order)
{
	static const char body[] = "max_age: 604800\nmx: mx.a.example\n"
	                           "mode: testing\nmx: *.b.example\n"
	                           "version: STSv1\n";
	static const char *const bad[] = {
	    "1:enforce:86400:mx.a.example,*.b.example:",
	    "1:enforce:86400:mx.a.example,*.b.example:5,3",
	    "1:enforce:86400:mx.a.example,*.b.example:5,3,1,2",
	    "1:enforce:86400:mx.a.example,*.b.example:5,3,3",
	    "1:enforce:86400:mx.a.example,*.b.example:6,3,1",
	    "1:enforce:86400:mx.a.example,*.b.example:0,3,1",
	    "1:enforce:86400:mx.a.example,*.b.example:05,3,1",
	    "1:enforce:86400:mx.a.example,*.b.example:5,+3,1",
	    "1:enforce:86400:mx.a.example,*.b.example:5,3,1,",
	    "1:enforce:86400:mx.a.example,*.b.example:5,3,1:",
	    "1:enforce:86400:mx.a.example,*.b.example:5,,3,1",
	    "1:enforce:86400:mx.a.example,*.b.example:a,b,c",
	    "1:enforce:86400:mx.a.example,*.b.example:100000,3,1",
	    "1:enforce:86400:mx.a.example,*.b.example::5,3,1",
	    "1:enforce:86400:mx.a.example,:5,3,1",
	    "1:enforce:86400::5,3,1",
	    "1:enforce:86400:mx.a.example:5:3:1"};
	struct mtasts_config *cfg = config("");
	struct mtasts_policy *p, *parsed;
	struct mtasts_lookup lookup = {0};
	struct mtasts_decision d = {.lookup = &lookup};
	struct mtasts_error err;
	struct mtasts_ctx *ctx;
	char word[TLSRPT_APPLIED_MAX];
	size_t i;

	ck_assert_int_eq(mtasts_policy_parse(body, strlen(body), &parsed, &err),
	    MTASTS_OK);
	snprintf(parsed->id, sizeof(parsed->id), "id3");
	ck_assert_int_eq(
	    tlsrpt_applied_format(parsed, word, sizeof(word)), 0);
	ck_assert_str_eq(
	    word, "id3:testing:604800:mx.a.example,*.b.example:5,3,1");
	p = tlsrpt_applied_parse(word);
	ck_assert_ptr_nonnull(p);
	ck_assert_mem_eq(p->line_of, parsed->line_of, sizeof(p->line_of));
	ck_assert_uint_eq(p->mx_count, 2);
	ck_assert_str_eq(p->mx[1], "*.b.example");
	mtasts_policy_free(p);
	/* the order is part of the word: no room for it, no word */
	ck_assert_int_eq(tlsrpt_applied_format(parsed, word, 48), -1);
	/* the word of the version before: the canonical order */
	p = tlsrpt_applied_parse("id3:testing:604800:mx.a.example,*.b.example");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->line_of[0] | p->line_of[1] | p->line_of[2], 0);
	mtasts_policy_free(p);
	/* the canonical order said out loud reads as not said */
	p = tlsrpt_applied_parse(
	    "id3:testing:604800:mx.a.example,*.b.example:1,2,5");
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(p->line_of[0] | p->line_of[1] | p->line_of[2], 0);
	ck_assert_int_eq(tlsrpt_applied_format(p, word, sizeof(word)), 0);
	ck_assert_str_eq(word, "id3:testing:604800:mx.a.example,*.b.example");
	mtasts_policy_free(p);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(tlsrpt_applied_parse(bad[i]) == NULL, "%s", bad[i]);

	/* the word an MTA keeps from its decision says it */
	ck_assert_int_eq(mtasts_ctx_new(cfg, &ctx, &err), MTASTS_OK);
	lookup.policy = parsed;
	snprintf(lookup.domain, sizeof(lookup.domain), "a.example");
	d.verdict = MTASTS_VERDICT_TESTING;
	ck_assert_int_eq(
	    mtasts_tlsrpt_applied_of(ctx, &d, word, sizeof(word)), MTASTS_OK);
	ck_assert_str_eq(
	    word, "id3:testing:604800:mx.a.example,*.b.example:5,3,1");
	mtasts_policy_free(parsed);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
}
END_TEST

/* With fleet set, the store is the fleet's; tlsrpt_backend = lmdb keeps
 * it this host's, apart from the fleet's. */
START_TEST(the_fleet_store_unless_lmdb_is_named)
{
	struct mtasts_config *fleet = config_of(REDIS, "");
	struct mtasts_config *own = config_of(REDIS, "tlsrpt_backend = lmdb\n");
	struct mtasts_config *alone = config("");
	struct mtasts_error err;
	struct tlsrpt_session x = session("example.com", NULL, "mx1.example.com");
	struct tlsrpt_store *a, *b;
	json_t *day;

	ck_assert(tlsrpt_store_shared(fleet));
	ck_assert(!tlsrpt_store_shared(own));
	ck_assert(!tlsrpt_store_shared(alone));
	ck_assert_ptr_nonnull(a = tlsrpt_store_open(own, &err));
	ck_assert_ptr_nonnull(b = tlsrpt_store_open(fleet, &err));
	ck_assert_int_eq(tlsrpt_store_add(a, DAY, &x, &err), MTASTS_OK);
	day = tlsrpt_store_day(b, DAY, NULL, &err);
	ck_assert_int_eq(json_object_size(day), 0);
	json_decref(day);
	tlsrpt_store_close(a);
	tlsrpt_store_close(b);
	mtasts_config_free(fleet);
	mtasts_config_free(own);
	mtasts_config_free(alone);
}
END_TEST

/* A fold's counts and its offset are one write: a fold from an offset
 * that is no longer the node's (another opening folded meanwhile)
 * counts nothing. */
START_TEST(a_fold_commits_its_offset_with_its_counts)
{
	struct mtasts_config *cfg = config_of(REDIS, "fleet_node = n1\n");
	struct mtasts_error err;
	struct tlsrpt_session xs[2] = {
	    session("example.com", NULL, "mx1.example.com"),
	    session("example.com", "starttls-not-supported", "mx1.example.com")};
	struct tlsrpt_store *a = tlsrpt_store_open(cfg, &err), *b;
	uint64_t at;
	json_t *day, *p;

	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(tlsrpt_store_offset(a, DAY, &at, &err), MTASTS_OK);
	ck_assert_uint_eq(at, 0);
	ck_assert_int_eq(tlsrpt_store_fold(a, DAY, xs, 2, 100, &err), MTASTS_OK);
	ck_assert_ptr_nonnull(b = tlsrpt_store_open(cfg, &err));
	ck_assert_int_eq(tlsrpt_store_offset(b, DAY, &at, &err), MTASTS_OK);
	ck_assert_uint_eq(at, 100);
	ck_assert_int_eq(tlsrpt_store_fold(a, DAY, xs, 2, 200, &err), MTASTS_OK);
	/* b read 100, the node is at 200: b's lines are counted already */
	ck_assert_int_eq(
	    tlsrpt_store_fold(b, DAY, xs, 2, 150, &err), MTASTS_ERR_CACHE);
	ck_assert_ptr_nonnull(strstr(err.message, "moved under this fold"));
	p = policy_of(a, "example.com", &day);
	ck_assert_int_eq(num(p, "success"), 2);
	ck_assert_int_eq(num(p, "failure"), 2);
	json_decref(day);
	ck_assert_int_eq(tlsrpt_store_offset(b, DAY, &at, &err), MTASTS_OK);
	ck_assert_uint_eq(at, 200);
	tlsrpt_store_close(a);
	tlsrpt_store_close(b);
	mtasts_config_free(cfg);
}
END_TEST

/* Two hosts under one fleet_node would read each other's offsets: the
 * second is refused and counts nothing. */
START_TEST(a_node_name_two_hosts_share_is_refused)
{
	struct mtasts_config *one = config_of(REDIS, "fleet_node = same\n");
	struct mtasts_config *two = config_of(REDIS, "fleet_node = same\n");
	struct mtasts_config *other = config_of(REDIS, "fleet_node = other\n");
	struct mtasts_error err;
	struct tlsrpt_session x = session("example.com", NULL, "mx1.example.com");
	struct tlsrpt_store *a = tlsrpt_store_open(one, &err);
	struct tlsrpt_store *b = tlsrpt_store_open(two, &err);
	struct tlsrpt_store *c = tlsrpt_store_open(other, &err);
	uint64_t at;
	json_t *day, *p;

	ck_assert(a != NULL && b != NULL && c != NULL);
	tlsrpt_store_offset(a, DAY, &at, &err);
	tlsrpt_store_offset(b, DAY, &at, &err);
	tlsrpt_store_offset(c, DAY, &at, &err);
	ck_assert_int_eq(tlsrpt_store_fold(a, DAY, &x, 1, 10, &err), MTASTS_OK);
	ck_assert_int_eq(
	    tlsrpt_store_fold(b, DAY, &x, 1, 10, &err), MTASTS_ERR_CACHE);
	ck_assert_ptr_nonnull(strstr(err.message, "another host's"));
	ck_assert_int_eq(tlsrpt_store_fold(c, DAY, &x, 1, 10, &err), MTASTS_OK);
	p = policy_of(a, "example.com", &day);
	ck_assert_int_eq(num(p, "success"), 2);
	json_decref(day);
	tlsrpt_store_close(a);
	tlsrpt_store_close(b);
	tlsrpt_store_close(c);
	mtasts_config_free(one);
	mtasts_config_free(two);
	mtasts_config_free(other);
}
END_TEST

/* Two nodes of one fleet (a, b) and a host alone (l), for the tests of
 * what only a fleet's store does. */
struct nodes {
	struct mtasts_config *cfg[3];
	struct tlsrpt_store *a, *b, *l;
};

static void
nodes_open(struct nodes *n)
{
	struct mtasts_error err;

	n->cfg[0] = config_of(REDIS, "fleet_node = a\n");
	n->cfg[1] = config_of(REDIS, "fleet_node = b\n");
	n->cfg[2] = config("");
	n->a = tlsrpt_store_open(n->cfg[0], &err);
	n->b = tlsrpt_store_open(n->cfg[1], &err);
	n->l = tlsrpt_store_open(n->cfg[2], &err);
	ck_assert(n->a != NULL && n->b != NULL && n->l != NULL);
}

static void
nodes_close(struct nodes *n)
{
	int i;

	tlsrpt_store_close(n->a);
	tlsrpt_store_close(n->b);
	tlsrpt_store_close(n->l);
	for (i = 0; i < 3; i++)
		mtasts_config_free(n->cfg[i]);
}

/* One node at a time sends a report; a store of one host has nothing to
 * claim. */
START_TEST(one_claim_per_report)
{
	struct nodes n;
	struct mtasts_error err;
	struct tlsrpt_store *a, *b, *l;
	const char *rua = "mailto:tls@example.com";

	nodes_open(&n);
	a = n.a, b = n.b, l = n.l;
	ck_assert_int_eq(tlsrpt_store_claim(a, DAY, "example.com", rua, &err), 1);
	ck_assert_int_eq(tlsrpt_store_claim(b, DAY, "example.com", rua, &err), 0);
	/* another rua, another report */
	ck_assert_int_eq(
	    tlsrpt_store_claim(b, DAY, "example.com", "https://x.example/",
	        &err),
	    1);
	/* only its holder lets go of it */
	tlsrpt_store_release(b, DAY, "example.com", rua);
	ck_assert_int_eq(tlsrpt_store_claim(b, DAY, "example.com", rua, &err), 0);
	tlsrpt_store_release(a, DAY, "example.com", rua);
	ck_assert_int_eq(tlsrpt_store_claim(b, DAY, "example.com", rua, &err), 1);
	ck_assert_int_eq(tlsrpt_store_claim(l, DAY, "example.com", rua, &err), 1);
	ck_assert_int_eq(tlsrpt_store_claim(l, DAY, "example.com", rua, &err), 1);
	nodes_close(&n);
}
END_TEST

/* A day's reports wait for every node active lately to count its
 * sessions after the day ended; a node long silent does not hold them;
 * a store of one host is always ready. */
START_TEST(a_days_reports_wait_for_every_node)
{
	struct nodes n;
	struct mtasts_error err;
	struct tlsrpt_store *a, *b, *l;
	int64_t end = tlsrpt_day_start(DAY) + 86400;
	char who[80] = "";

	nodes_open(&n);
	a = n.a, b = n.b, l = n.l;
	ck_assert_int_eq(tlsrpt_store_folded(a, end + 10, &err), MTASTS_OK);
	ck_assert_int_eq(tlsrpt_store_folded(b, end - 10, &err), MTASTS_OK);
	ck_assert_int_eq(
	    tlsrpt_store_ready(a, DAY, end + 100, who, sizeof(who), &err), 0);
	ck_assert_str_eq(who, "b");
	/* b silent for more than a day: not waited for */
	ck_assert_int_eq(tlsrpt_store_ready(a, DAY,
	                     end - 10 + TLSRPT_NODE_ACTIVE + 1, who,
	                     sizeof(who), &err),
	    1);
	ck_assert_int_eq(tlsrpt_store_folded(b, end + 20, &err), MTASTS_OK);
	ck_assert_int_eq(
	    tlsrpt_store_ready(a, DAY, end + 100, who, sizeof(who), &err), 1);
	ck_assert_int_eq(tlsrpt_store_folded(l, end - 10, &err), MTASTS_OK);
	ck_assert_int_eq(
	    tlsrpt_store_ready(l, DAY, end + 100, who, sizeof(who), &err), 1);
	nodes_close(&n);
}
END_TEST

/* Redis gone: a fold fails, saying the fleet's address; nothing else. */
START_TEST(a_fold_without_redis_fails_clearly)
{
	struct mtasts_config *cfg = config_of(REDIS, "");
	struct mtasts_error err;
	struct tlsrpt_session x = session("example.com", NULL, "mx1.example.com");
	struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
	uint64_t at;

	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(tlsrpt_store_offset(s, DAY, &at, &err), MTASTS_OK);
	redis_down();
	ck_assert_int_eq(
	    tlsrpt_store_fold(s, DAY, &x, 1, 10, &err), MTASTS_ERR_CACHE);
	ck_assert_ptr_nonnull(strstr(err.message, "fleet redis+unix://"));
	ck_assert_int_eq(
	    tlsrpt_store_offset(s, DAY, &at, &err), MTASTS_ERR_CACHE);
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

/* Keys of another type where the counts go (another program, a damaged
 * store): nothing is written, not even the offset; a summary that does
 * not read is another policy's (not counted), as a hash's clash is. */
START_TEST(keys_of_another_type_are_left_alone)
{
	struct mtasts_config *cfg = config_of(REDIS, "fleet_node = n1\n");
	struct mtasts_error err;
	struct tlsrpt_session x = session("example.com", NULL, "mx1.example.com");
	struct tlsrpt_session y = session("other.example", NULL, "mx1.example.com");
	struct tlsrpt_store *s = tlsrpt_store_open(cfg, &err);
	struct redis_store *link = redis_cache_open(cfg, &err);
	char key[128];
	const char *set[] = {"SET", key, "x"};
	const char *hset[] = {"HSET", key, NULL, "1 garbage\nsome text"};
	uint64_t at;
	json_t *day;

	ck_assert(s != NULL && link != NULL);
	snprintf(key, sizeof(key), "t:tlsrpt:d:%s:example.com", DAY);
	redis_free(link, redis_run(link, 3, set, NULL, &err));
	ck_assert_int_eq(tlsrpt_store_offset(s, DAY, &at, &err), MTASTS_OK);
	ck_assert_int_eq(
	    tlsrpt_store_fold(s, DAY, &x, 1, 10, &err), MTASTS_ERR_CACHE);
	ck_assert_ptr_nonnull(strstr(err.message, "another type"));
	ck_assert_int_eq(tlsrpt_store_offset(s, DAY, &at, &err), MTASTS_OK);
	ck_assert_uint_eq(at, 0);
	/* a summary field that does not read */
	{
		char field[16];
		const char *policy = x.policy;

		snprintf(field, sizeof(field), "p:%08x",
		    (unsigned)crc32_of(policy, strlen(policy)));
		snprintf(key, sizeof(key), "t:tlsrpt:d:%s:other.example", DAY);
		hset[2] = field;
		redis_free(link, redis_run(link, 4, hset, NULL, &err));
	}
	ck_assert_int_eq(tlsrpt_store_fold(s, DAY, &y, 1, 10, &err), MTASTS_OK);
	day = tlsrpt_store_day(s, DAY, NULL, &err);
	ck_assert_ptr_nonnull(day);
	ck_assert_int_eq(json_object_size(day), 0);
	json_decref(day);
	redis_cache_close(link);
	tlsrpt_store_close(s);
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(days_are_utc)
{
	char day[TLSRPT_DAY_LEN + 1];

	tlsrpt_day(1764633599, day); /* 2025-12-01T23:59:59Z */
	ck_assert_str_eq(day, "2025-12-01");
	tlsrpt_day(1764633600, day);
	ck_assert_str_eq(day, "2025-12-02");
	tlsrpt_day(0, day);
	ck_assert_str_eq(day, "1970-01-01");
	tlsrpt_day(951782400, day); /* a leap day of a century */
	ck_assert_str_eq(day, "2000-02-29");
	tlsrpt_day(4107542399, day);
	ck_assert_str_eq(day, "2100-02-28");
	/* every day of 40 years against gmtime */
	for (int64_t t = 946684800; t < 946684800 + 40 * 366 * 86400LL;
	     t += 86400 - 1) {
		char want[TLSRPT_DAY_LEN + 1];
		time_t tt = (time_t)t;
		struct tm tm;

		gmtime_r(&tt, &tm);
		strftime(want, sizeof(want), "%Y-%m-%d", &tm);
		tlsrpt_day(t, day);
		ck_assert_str_eq(day, want);
	}
	ck_assert_int_eq(tlsrpt_day_start("2025-12-01"), 1764547200);
	ck_assert_int_eq(tlsrpt_day_start("yesterday"), 0);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tlsrpt_store");
	TCase *tc = tcase_create("store");
	TCase *fleet = tcase_create("the fleet");
	/* the fleet's store too, when this host has a redis-server (a
	 * package's build has none) */
	int n = redis_server() != NULL ? BACKENDS : REDIS;

	if (n == REDIS)
		printf("no redis-server (tools/deps unpacks one): the fleet's "
		       "store is not tested\n");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, redis_down);
	tcase_add_loop_test(tc, sessions_are_counted, 0, n);
	tcase_add_loop_test(tc, hostile_fields_are_refused, 0, n);
	tcase_add_loop_test(tc, detail_rows_are_bounded, 0, n);
	tcase_add_test(tc, a_full_store_refuses_and_keeps_what_it_has);
	tcase_add_loop_test(tc, concurrent_writers_lose_nothing, 0, n);
	tcase_add_loop_test(tc, a_killed_writer_leaves_a_usable_store, 0, n);
	tcase_add_loop_test(tc, states_are_kept_per_rua, 0, n);
	tcase_add_test(tc, days_are_utc);
	tcase_add_test(tc, applied_policies_round_trip);
	tcase_add_test(tc, applied_word_of_a_decision);
	tcase_add_test(tc, applied_word_keeps_the_published_order);
	suite_add_tcase(s, tc);
	if (n == BACKENDS) {
		tcase_set_timeout(fleet, 60);
		tcase_add_checked_fixture(fleet, NULL, redis_down);
		tcase_add_test(fleet, the_fleet_store_unless_lmdb_is_named);
		tcase_add_test(fleet, a_fold_commits_its_offset_with_its_counts);
		tcase_add_test(fleet, a_node_name_two_hosts_share_is_refused);
		tcase_add_test(fleet, one_claim_per_report);
		tcase_add_test(fleet, a_days_reports_wait_for_every_node);
		tcase_add_test(fleet, a_fold_without_redis_fails_clearly);
		tcase_add_test(fleet, keys_of_another_type_are_left_alone);
		suite_add_tcase(s, fleet);
	}
	return unit_run(s);
}
