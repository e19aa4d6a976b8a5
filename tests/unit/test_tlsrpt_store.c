/* Unit tests of the TLS-RPT store (common/tlsrpt/tlsrpt_store.c): counts, the
 * bound on detail rows, a full map, concurrent writers and a writer
 * killed in the middle, on a real LMDB in a temporary directory. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mtasts.h"
#include "tlsrpt_spool.h"
#include "tlsrpt_store.h"
#include "unit.h"

static const char DAY[] = "2026-12-01";

/* A configuration whose store is in a new directory. */
static struct mtasts_config *
config(const char *extra)
{
	char dir[] = "/tmp/mtasts-tlsrpt-XXXXXX", path[64], text[512];
	struct mtasts_config *cfg;
	struct mtasts_error err;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mtasts.conf", dir);
	snprintf(text, sizeof(text),
	    "[mtasts]\ncache_dir = %s/cache\ntlsrpt = yes\n%s", dir, extra);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(mtasts_config_load(path, &cfg, &err), MTASTS_OK);
	return cfg;
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
	struct mtasts_config *cfg = config("");
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
	struct mtasts_config *cfg = config("");
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
	struct mtasts_config *cfg = config("tlsrpt_details = 10\n");
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
	struct mtasts_config *cfg = config("");
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
	struct mtasts_config *cfg = config("");
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
	struct mtasts_config *cfg = config("");
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

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sessions_are_counted);
	tcase_add_test(tc, hostile_fields_are_refused);
	tcase_add_test(tc, detail_rows_are_bounded);
	tcase_add_test(tc, a_full_store_refuses_and_keeps_what_it_has);
	tcase_add_test(tc, concurrent_writers_lose_nothing);
	tcase_add_test(tc, a_killed_writer_leaves_a_usable_store);
	tcase_add_test(tc, states_are_kept_per_rua);
	tcase_add_test(tc, days_are_utc);
	tcase_add_test(tc, applied_policies_round_trip);
	tcase_add_test(tc, applied_word_of_a_decision);
	tcase_add_test(tc, applied_word_keeps_the_published_order);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
