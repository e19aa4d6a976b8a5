/*
 * test_abi.c - mtasts.h's Stability rule, held: this program is built
 * against the public headers as they are, and runs on a libmtasts.so built
 * with GROWN_BY bytes appended to every result it allocates (the lookup,
 * the decision, the policy: MTASTS_TEST_GROWTH, tests/unit/meson.build), as
 * a later release may.  It must read every field it knows where it
 * expects it, free what it was given, and be refused a context only for
 * another ABI.  The sanitizer build runs it under ASan and UBSan.
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mtasts.h"

#ifdef MTASTS_TEST_GROWTH
#error "test_abi.c is the caller built against the header as it is"
#endif

/* The policies come from the configuration: nothing asks the network. */
static const char conf[] = "[mtasts]\n"
                           "cache_dir = %s/cache\n"
                           "tlsrpt = yes\n"
                           "[domain bank.example]\n"
                           "mode = enforce\n"
                           "mx = mx1.bank.example\n"
                           "mx = *.mail.bank.example\n"
                           "[domain broken.example]\n"
                           "skip = yes\n";

static char dir[] = "/tmp/mtasts-abi-XXXXXX";
static struct mtasts_config *cfg;
static struct mtasts_ctx *ctx;

static void
setup(void)
{
	struct mtasts_error err;
	char path[64];
	FILE *f;

	strcpy(dir, "/tmp/mtasts-abi-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mtasts.conf", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fprintf(f, conf, dir);
	fclose(f);
	ck_assert_int_eq(mtasts_config_load(path, &cfg, &err), MTASTS_OK);
	ck_assert_int_eq(mtasts_ctx_new(cfg, &ctx, &err), MTASTS_OK);
}

static void
teardown(void)
{
	char cmd[64];

	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* The library made p larger than this program's idea of it: the test is
 * of a grown library, not of the same layout twice. */
static void
assert_grown(const void *p, size_t known)
{
	ck_assert_uint_ge(malloc_usable_size((void *)p), known + GROWN_BY);
}

START_TEST(decision_reads_as_built)
{
	struct mtasts_decision *d = NULL;
	const struct mtasts_lookup *r;
	char word[2048];

	ck_assert_int_eq(
	    mtasts_decide(ctx, "bank.example", false, &d), MTASTS_OK);
	ck_assert_ptr_nonnull(d);
	assert_grown(d, sizeof(*d));
	ck_assert_int_eq(d->verdict, MTASTS_VERDICT_ENFORCE);
	ck_assert_str_eq(
	    d->reason, "bank.example: enforce, policy override (override)");
	r = d->lookup;
	ck_assert_str_eq(r->domain, "bank.example");
	ck_assert(!r->undecided);
	ck_assert_int_eq(r->status, MTASTS_STATUS_FOUND);
	ck_assert_int_eq(r->source, MTASTS_SOURCE_OVERRIDE);
	ck_assert_int_eq(r->override, MTASTS_OVERRIDE_STATIC);
	ck_assert_int_eq(r->error.code, MTASTS_OK);
	ck_assert_int_eq(r->cache_error.code, MTASTS_OK);
	ck_assert_ptr_nonnull(r->policy);
	assert_grown(r->policy, sizeof(*r->policy));
	ck_assert_str_eq(r->policy->id, "override");
	ck_assert_int_eq(r->policy->mode, MTASTS_MODE_ENFORCE);
	ck_assert_uint_eq(r->policy->mx_count, 2);
	ck_assert_str_eq(r->policy->mx[0], "mx1.bank.example");
	ck_assert_str_eq(r->policy->mx[1], "*.mail.bank.example");
	/* the library reads back what it made: an override is not reported */
	ck_assert_int_eq(
	    mtasts_tlsrpt_applied_of(ctx, d, word, sizeof(word)), MTASTS_OK);
	ck_assert_str_eq(word, "");
	mtasts_decision_free(d);

	ck_assert_int_eq(
	    mtasts_decide(ctx, "broken.example", true, &d), MTASTS_OK);
	ck_assert_int_eq(d->verdict, MTASTS_VERDICT_NONE);
	ck_assert_str_eq(d->reason, "broken.example: none (skip override)");
	ck_assert_int_eq(d->lookup->override, MTASTS_OVERRIDE_SKIP);
	ck_assert_ptr_null(d->lookup->policy);
	mtasts_decision_free(d);

	/* a bad argument still decides: defer */
	ck_assert_int_eq(
	    mtasts_decide(NULL, "bank.example", false, &d), MTASTS_ERR_USAGE);
	ck_assert_int_eq(d->verdict, MTASTS_VERDICT_DEFER);
	ck_assert_str_eq(d->lookup->domain, "");
	mtasts_decision_free(d);
}
END_TEST

START_TEST(lookups_read_as_built)
{
	const char *domains[] = {
	    "bank.example", "broken.example", "not a domain"};
	struct mtasts_lookup *r[3];
	size_t i;

	/* an array of pointers: no stride of this program's to agree on */
	ck_assert_int_eq(mtasts_lookups(ctx, domains, 3, false, r), MTASTS_OK);
	for (i = 0; i < 3; i++) {
		ck_assert_ptr_nonnull(r[i]);
		assert_grown(r[i], sizeof(*r[i]));
	}
	ck_assert_str_eq(r[0]->domain, "bank.example");
	ck_assert_int_eq(mtasts_verdict_of(r[0]), MTASTS_VERDICT_ENFORCE);
	ck_assert_str_eq(r[0]->policy->mx[1], "*.mail.bank.example");
	ck_assert_str_eq(r[1]->domain, "broken.example");
	ck_assert_int_eq(r[1]->override, MTASTS_OVERRIDE_SKIP);
	ck_assert_int_eq(mtasts_verdict_of(r[1]), MTASTS_VERDICT_NONE);
	ck_assert_int_eq(r[2]->error.code, MTASTS_ERR_USAGE);
	ck_assert_str_eq(r[2]->error.name, "usage");
	ck_assert(r[2]->undecided);
	ck_assert_int_eq(mtasts_verdict_of(r[2]), MTASTS_VERDICT_DEFER);
	for (i = 0; i < 3; i++)
		mtasts_lookup_free(r[i]);

	ck_assert_int_eq(mtasts_lookup(ctx, "bank.example", &r[0]), MTASTS_OK);
	assert_grown(r[0], sizeof(*r[0]));
	ck_assert_int_eq(r[0]->policy->mode, MTASTS_MODE_ENFORCE);
	mtasts_lookup_free(r[0]);

	/* a bad argument: no result */
	r[0] = r[1] = (struct mtasts_lookup *)domains;
	ck_assert_int_eq(
	    mtasts_lookups(ctx, NULL, 2, false, r), MTASTS_ERR_USAGE);
	ck_assert_ptr_null(r[0]);
	ck_assert_ptr_null(r[1]);
}
END_TEST

START_TEST(policy_reads_as_built)
{
	static const char body[] = "version: STSv1\nmode: testing\n"
	                           "mx: mx.a.example\nmax_age: 86400\n";
	struct mtasts_policy *p, *copy;
	struct mtasts_mx_result mx;
	struct mtasts_error err;

	ck_assert_int_eq(
	    mtasts_policy_parse(body, strlen(body), &p, &err), MTASTS_OK);
	assert_grown(p, sizeof(*p));
	ck_assert_int_eq(p->mode, MTASTS_MODE_TESTING);
	ck_assert_uint_eq(p->max_age, 86400);
	ck_assert_str_eq(p->mx[0], "mx.a.example");
	ck_assert_ptr_nonnull(copy = mtasts_policy_dup(p));
	assert_grown(copy, sizeof(*copy));
	/* the caller's own structures keep their layout */
	mtasts_validate_mx(copy, "MX.A.EXAMPLE.", &mx);
	ck_assert(mx.valid);
	ck_assert(mx.testing);
	ck_assert_str_eq(mx.match, "mx.a.example");
	mtasts_policy_free(copy);
	mtasts_policy_free(p);
}
END_TEST

START_TEST(another_abi_is_refused)
{
	struct mtasts_ctx *other = NULL;
	struct mtasts_error err;

	ck_assert(mtasts_abi_ok());
	/* a program from before the results were the library's */
	ck_assert_int_eq(
	    mtasts_ctx_new_abi(0, MTASTS_LAYOUT, cfg, &other, &err),
	    MTASTS_ERR_USAGE);
	ck_assert_ptr_null(other);
	ck_assert_ptr_nonnull(strstr(err.message, "rebuild it"));
	/* a caller's value type of another size */
	ck_assert_int_eq(mtasts_ctx_new_abi(
	                     MTASTS_ABI, MTASTS_LAYOUT + 8, cfg, &other, &err),
	    MTASTS_ERR_USAGE);
	ck_assert(!mtasts_abi_check(MTASTS_ABI, MTASTS_LAYOUT + 8));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("abi");
	TCase *tc = tcase_create("grown");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, decision_reads_as_built);
	tcase_add_test(tc, lookups_read_as_built);
	tcase_add_test(tc, policy_reads_as_built);
	tcase_add_test(tc, another_abi_is_refused);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
