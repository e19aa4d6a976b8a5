/* Unit tests of the decision (module/decide.c): never a guess towards
 * cleartext. */
#include <string.h>

#include "error.h"
#include "mtasts.h"
#include "unit.h"

static struct mtasts_lookup
errored(mtasts_code code)
{
	struct mtasts_lookup r;

	memset(&r, 0, sizeof(r));
	r.status = MTASTS_STATUS_ERRORED;
	mtasts_error_set(&r.error, code, "test");
	return r;
}

START_TEST(policy_gives_its_mode)
{
	struct mtasts_policy p = {.mode = MTASTS_MODE_ENFORCE};
	struct mtasts_lookup r = errored(MTASTS_ERR_CACHE);

	/* a policy in force wins over every error beside it */
	r.policy = &p;
	r.status = MTASTS_STATUS_CACHED;
	r.undecided = true;
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_ENFORCE);
	p.mode = MTASTS_MODE_TESTING;
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_TESTING);
	p.mode = MTASTS_MODE_NONE;
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_NONE);
	p.mode = (enum mtasts_mode)7; /* a bug path */
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_DEFER);
}
END_TEST

START_TEST(only_the_network_says_none)
{
	static const mtasts_code network[] = {MTASTS_ERR_NO_STS_RECORD,
	    MTASTS_ERR_MULTI_STS_RECORDS, MTASTS_ERR_INVALID_STS_ID,
	    MTASTS_ERR_HTTP_STATUS, MTASTS_ERR_HTTP_REDIRECT, MTASTS_ERR_TLS,
	    MTASTS_ERR_TLS_CERT_TIME, MTASTS_ERR_TIMEOUT,
	    MTASTS_ERR_DNS_NXDOMAIN, MTASTS_ERR_POLICY_TOO_LARGE,
	    MTASTS_ERR_INVALID_STS_MX};
	static const mtasts_code host[] = {MTASTS_ERR_CACHE,
	    MTASTS_ERR_CONFIG, MTASTS_ERR_IO, MTASTS_ERR_NOMEM,
	    MTASTS_ERR_INTERNAL, MTASTS_ERR_TLS_SETUP, MTASTS_ERR_USAGE,
	    MTASTS_CODE_COUNT};
	struct mtasts_lookup r;
	size_t i;

	for (i = 0; i < sizeof(network) / sizeof(network[0]); i++) {
		r = errored(network[i]);
		ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_NONE);
		/* the same code, when the TXT query went unanswered */
		r.undecided = true;
		ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_DEFER);
	}
	for (i = 0; i < sizeof(host) / sizeof(host[0]); i++) {
		r = errored(host[i]);
		r.error.code = host[i];
		ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_DEFER);
	}
	r = errored(MTASTS_OK);
	r.status = MTASTS_STATUS_NOT_FOUND;
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_NONE);
	/* found without a policy: a bug path */
	r.status = MTASTS_STATUS_FOUND;
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_DEFER);
	ck_assert_int_eq(mtasts_verdict_of(NULL), MTASTS_VERDICT_DEFER);
}
END_TEST

START_TEST(a_cache_that_cannot_say_defers)
{
	struct mtasts_lookup r = errored(MTASTS_ERR_NO_STS_RECORD);

	r.status = MTASTS_STATUS_NOT_FOUND;
	mtasts_error_set(&r.cache_error, MTASTS_ERR_CACHE, "damaged");
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_DEFER);
	/* read, but the answer could not be kept: the answer stands */
	mtasts_error_set(&r.cache_error, MTASTS_ERR_IO, "full");
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_NONE);
}
END_TEST

START_TEST(overrides)
{
	struct mtasts_lookup r = errored(MTASTS_OK);

	r.status = MTASTS_STATUS_NOT_FOUND;
	r.source = MTASTS_SOURCE_OVERRIDE;
	r.override = MTASTS_OVERRIDE_SKIP;
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_NONE);
	/* a static policy that could not be made (memory) */
	r = errored(MTASTS_ERR_NOMEM);
	r.source = MTASTS_SOURCE_OVERRIDE;
	r.override = MTASTS_OVERRIDE_STATIC;
	ck_assert_int_eq(mtasts_verdict_of(&r), MTASTS_VERDICT_DEFER);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("decide");
	TCase *tc = tcase_create("verdict");

	tcase_add_test(tc, policy_gives_its_mode);
	tcase_add_test(tc, only_the_network_says_none);
	tcase_add_test(tc, a_cache_that_cannot_say_defers);
	tcase_add_test(tc, overrides);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
