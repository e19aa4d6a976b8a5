/* Unit tests of MX host validation (RFC 8461 §4.1). */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "mtasts.h"
#include "mx.h"
#include "unit.h"

START_TEST(exact_match)
{
	ck_assert(mtasts_mx_match("mx.example.com", "mx.example.com"));
	ck_assert(mtasts_mx_match("mx.example.com", "MX.Example.COM"));
	ck_assert(mtasts_mx_match("MX.EXAMPLE.COM", "mx.example.com"));
	ck_assert(mtasts_mx_match("mx.example.com", "mx.example.com."));
	ck_assert(mtasts_mx_match("mx.example.com.", "mx.example.com"));
	ck_assert(!mtasts_mx_match("mx.example.com", "mx.example.co"));
	ck_assert(!mtasts_mx_match("mx.example.com", "xmx.example.com"));
	ck_assert(!mtasts_mx_match("mx.example.com", "mx.example.com.."));
	ck_assert(!mtasts_mx_match("mx.example.com", ""));
	ck_assert(!mtasts_mx_match("mx.example.com", "."));
}
END_TEST

START_TEST(wildcard_one_label)
{
	/* RFC 8461 §4.1 examples */
	ck_assert(mtasts_mx_match("*.example.com", "mx.example.com"));
	ck_assert(!mtasts_mx_match("*.example.com", "example.com"));
	ck_assert(!mtasts_mx_match("*.example.com", "a.b.example.com"));
	ck_assert(mtasts_mx_match("*.example.com", "MX1.EXAMPLE.COM."));
	ck_assert(mtasts_mx_match("*.Example.Com", "mx.example.com"));
	ck_assert(!mtasts_mx_match("*.example.com", ".example.com"));
	ck_assert(!mtasts_mx_match("*.example.com", "mxexample.com"));
	ck_assert(!mtasts_mx_match("*.example.com", "mx.example.com.evil"));
	ck_assert(!mtasts_mx_match("*.example.com", "mx.notexample.com"));
	/* a host is never a wildcard itself */
	ck_assert(!mtasts_mx_match("*.example.com", "*.example.com"));
	ck_assert(!mtasts_mx_match("mx.example.com", "*.example.com"));
	/* a '*' inside a pattern is not a wildcard */
	ck_assert(!mtasts_mx_match("mx*.example.com", "mx1.example.com"));
}
END_TEST

START_TEST(null_arguments)
{
	ck_assert(!mtasts_mx_match(NULL, "mx.example.com"));
	ck_assert(!mtasts_mx_match("mx.example.com", NULL));
}
END_TEST

static struct mtasts_policy *
policy_of(const char *body)
{
	struct mtasts_policy *p = NULL;

	ck_assert_int_eq(
	    mtasts_policy_parse(body, strlen(body), &p, NULL), MTASTS_OK);
	return p;
}

START_TEST(validate_enforce)
{
	struct mtasts_policy *p = policy_of("version: STSv1\nmode: enforce\n"
	                                    "mx: mail.example.com\nmx: "
	                                    "*.example.net\nmax_age: 1\n");
	struct mtasts_mx_result r;

	mtasts_validate_mx(p, "alt.example.net.", &r);
	ck_assert(r.valid);
	ck_assert_int_eq(r.mode, MTASTS_MODE_ENFORCE);
	ck_assert_str_eq(r.match, "*.example.net");
	ck_assert(!r.testing);
	mtasts_validate_mx(p, "rogue.example.org", &r);
	ck_assert(!r.valid);
	ck_assert_ptr_null(r.match);
	ck_assert(!r.testing);
	mtasts_policy_free(p);
}
END_TEST

START_TEST(validate_testing)
{
	struct mtasts_policy *p =
	    policy_of("version: STSv1\nmode: testing\n"
	              "mx: mail.example.com\nmax_age: 1\n");
	struct mtasts_mx_result r;

	mtasts_validate_mx(p, "mail.example.com", &r);
	ck_assert(r.valid);
	ck_assert(r.testing);
	ck_assert_str_eq(r.match, "mail.example.com");
	/* not valid, and testing says "only report it" */
	mtasts_validate_mx(p, "other.example.com", &r);
	ck_assert(!r.valid);
	ck_assert(r.testing);
	ck_assert_int_eq(r.mode, MTASTS_MODE_TESTING);
	mtasts_policy_free(p);
}
END_TEST

START_TEST(validate_none)
{
	struct mtasts_policy *p = policy_of("version: STSv1\nmode: none\n"
	                                    "max_age: 1\n");
	struct mtasts_mx_result r;

	mtasts_validate_mx(p, "anything.example", &r);
	ck_assert(r.valid);
	ck_assert_int_eq(r.mode, MTASTS_MODE_NONE);
	ck_assert(!r.testing);
	ck_assert_ptr_null(r.match);
	mtasts_validate_mx(NULL, "anything.example", &r);
	ck_assert(r.valid);
	ck_assert_int_eq(r.mode, MTASTS_MODE_NONE);
	mtasts_policy_free(p);
}
END_TEST

START_TEST(pattern_check)
{
	struct mtasts_error err;

	ck_assert_int_eq(
	    mtasts_mx_pattern_check("*.example.com", 13, &err), MTASTS_OK);
	ck_assert_int_eq(
	    mtasts_mx_pattern_check("mx.example.com.", 15, &err), MTASTS_OK);
	ck_assert_int_eq(
	    mtasts_mx_pattern_check("*", 1, &err), MTASTS_ERR_INVALID_STS_MX);
	ck_assert_str_eq(err.name, "invalid_sts_mx");
	ck_assert_int_eq(mtasts_mx_pattern_check("a\nmode: none", 12, &err),
	    MTASTS_ERR_INVALID_STS_MX);
	ck_assert_ptr_nonnull(strstr(err.message, "\\x0a"));
}
END_TEST

/* What the Exim adapter hands Exim (mx_pattern_regex) accepts exactly
 * the hosts mtasts_mx_match accepts: both read through POSIX regex. */
START_TEST(regex_says_the_same_rule)
{
	static const char *patterns[] = {"mx.example.com", "MX.Example.COM.",
	    "*.example.com", "*.Example.Com.", "mx-1_a.example.net", "*.a.b.c",
	    "x"};
	static const char *hosts[] = {"mx.example.com", "MX.EXAMPLE.COM.",
	    "mxexample.com", "mx.example.com..", "xmx.example.com", "",
	    ".", "example.com", ".example.com", "a.b.example.com",
	    "mx1.example.com", "*.example.com", "m*x.example.com",
	    "mx.example.com.evil", "mx-1_a.example.net", "mx-1_A.EXAMPLE.net.",
	    "q.a.b.c", "a.b.c", "q.r.a.b.c", "x", "X.", "\xc3\xa9.example.com"};
	size_t p, h;

	for (p = 0; p < sizeof(patterns) / sizeof(patterns[0]); p++) {
		char body[512], anchored[600];
		regex_t re;
		size_t n = mx_pattern_regex(patterns[p], body, sizeof(body));

		ck_assert_uint_gt(n, 0);
		ck_assert_uint_lt(n, sizeof(body));
		snprintf(anchored, sizeof(anchored), "^(%s)$", body);
		ck_assert_int_eq(regcomp(&re, anchored,
		                     REG_EXTENDED | REG_ICASE | REG_NOSUB),
		    0);
		for (h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++)
			ck_assert_msg((regexec(&re, hosts[h], 0, NULL, 0) == 0) ==
			        mtasts_mx_match(patterns[p], hosts[h]),
			    "%s against %s (%s)", patterns[p], hosts[h], body);
		regfree(&re);
	}
}
END_TEST

START_TEST(regex_of_refused_patterns_matches_nothing)
{
	char body[64];

	ck_assert_uint_eq(mx_pattern_regex("*.", body, sizeof(body)), 0);
	ck_assert_uint_eq(mx_pattern_regex("", body, sizeof(body)), 0);
	ck_assert_uint_eq(mx_pattern_regex(".", body, sizeof(body)), 0);
	ck_assert_uint_eq(
	    mx_pattern_regex("mx*.example.com", body, sizeof(body)), 0);
	ck_assert_uint_eq(
	    mx_pattern_regex("mx+.example.com", body, sizeof(body)), 0);
	/* too long for out: the length it needs, as snprintf says it */
	ck_assert_uint_eq(mx_pattern_regex("mx.example.com", body, 4),
	    strlen("mx\\.example\\.com\\.?"));
}
END_TEST

static Suite *
mx_suite(void)
{
	Suite *s = suite_create("mx");
	TCase *t = tcase_create("match");

	tcase_add_test(t, exact_match);
	tcase_add_test(t, wildcard_one_label);
	tcase_add_test(t, null_arguments);
	tcase_add_test(t, validate_enforce);
	tcase_add_test(t, validate_testing);
	tcase_add_test(t, validate_none);
	tcase_add_test(t, pattern_check);
	tcase_add_test(t, regex_says_the_same_rule);
	tcase_add_test(t, regex_of_refused_patterns_matches_nothing);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return unit_run(mx_suite());
}
