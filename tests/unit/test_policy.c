/* Unit tests of the policy parser (RFC 8461 §3.2). */
#include <stdlib.h>
#include <string.h>

#include "mtasts.h"
#include "policy.h"
#include "unit.h"

static struct mtasts_policy *policy;
static struct mtasts_error err;

static mtasts_code
parse_n(const char *body, size_t len)
{
	mtasts_policy_free(policy);
	policy = NULL;
	mtasts_error_clear(&err);
	return mtasts_policy_parse(body, len, &policy, &err);
}

static mtasts_code
parse(const char *body)
{
	return parse_n(body, strlen(body));
}

/* Asserts a parse fails with the given stable code string. */
#define ck_fails(body, code_name)                                              \
	do {                                                                   \
		ck_assert_int_ne(parse(body), MTASTS_OK);                      \
		ck_assert_ptr_null(policy);                                    \
		ck_assert_str_eq(err.name, code_name);                         \
		ck_assert_uint_gt(strlen(err.message), 0);                     \
	} while (0)

/* Asserts that head followed by each of the n lines fails with code_name. */
static void
ck_all_fail(
    const char *head, const char *const *lines, size_t n, const char *code_name)
{
	char buf[512];
	size_t i;

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "%s%s\n", head, lines[i]);
		ck_fails(buf, code_name);
	}
}

static void
teardown(void)
{
	mtasts_policy_free(policy);
	policy = NULL;
}

START_TEST(rfc_example_crlf)
{
	/* RFC 8461 §3.2 example */
	ck_assert_int_eq(
	    parse("version: STSv1\r\nmode: enforce\r\n"
	          "mx: mail.example.com\r\nmx: *.example.net\r\n"
	          "mx: backupmx.example.com\r\nmax_age: 604800\r\n"),
	    MTASTS_OK);
	ck_assert_int_eq(policy->mode, MTASTS_MODE_ENFORCE);
	ck_assert_uint_eq(policy->max_age, 604800);
	ck_assert_uint_eq(policy->mx_count, 3);
	ck_assert_str_eq(policy->mx[0], "mail.example.com");
	ck_assert_str_eq(policy->mx[1], "*.example.net");
	ck_assert_str_eq(policy->mx[2], "backupmx.example.com");
	ck_assert_str_eq(policy->id, "");
}
END_TEST

START_TEST(lf_and_no_final_newline)
{
	ck_assert_int_eq(parse("version: STSv1\nmode: testing\nmx: a.example\n"
	                       "max_age: 86400"),
	    MTASTS_OK);
	ck_assert_int_eq(policy->mode, MTASTS_MODE_TESTING);
	ck_assert_uint_eq(policy->max_age, 86400);
}
END_TEST

START_TEST(mixed_line_ends)
{
	ck_assert_int_eq(parse("version: STSv1\r\nmode: enforce\nmx: a.example"
	                       "\r\nmax_age: 1\n"),
	    MTASTS_OK);
}
END_TEST

START_TEST(fields_in_any_order_and_whitespace)
{
	ck_assert_int_eq(parse("max_age:\t\t123  \nmx:a.example\t\nmode:  "
	                       "enforce \nversion: STSv1\n"),
	    MTASTS_OK);
	ck_assert_uint_eq(policy->max_age, 123);
	ck_assert_str_eq(policy->mx[0], "a.example");
}
END_TEST

START_TEST(mode_none_needs_no_mx)
{
	/* RFC 8461 §3.2: mx required at least once, except in mode none */
	ck_assert_int_eq(
	    parse("version: STSv1\nmode: none\nmax_age: 86400\n"), MTASTS_OK);
	ck_assert_int_eq(policy->mode, MTASTS_MODE_NONE);
	ck_assert_uint_eq(policy->mx_count, 0);
}
END_TEST

START_TEST(unknown_fields_ignored)
{
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "max_age: 5\nfoo: bar baz\nx-ext.1_2: "
	                       "caf\xc3\xa9 = ;\n"),
	    MTASTS_OK);
}
END_TEST

START_TEST(duplicate_fields_first_wins)
{
	/* §3.2: a repeated non-mx field: all but the first are ignored */
	ck_assert_int_eq(parse("version: STSv1\nmode: testing\nmode: enforce\n"
	                       "mx: a.example\nmax_age: 10\nmax_age: 20\n"
	                       "version: STSv2\n"),
	    MTASTS_OK);
	ck_assert_int_eq(policy->mode, MTASTS_MODE_TESTING);
	ck_assert_uint_eq(policy->max_age, 10);
	/* a later bad value is ignored too, not validated */
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmode: bogus\n"
	                       "mx: a.example\nmax_age: 10\n"),
	    MTASTS_OK);
	/* but the first one counts even when it is bad */
	ck_fails("version: STSv1\nmode: bogus\nmode: enforce\nmx: a.example\n"
	         "max_age: 10\n",
	    "invalid_sts_mode");
}
END_TEST

START_TEST(mx_lowercased_deduplicated_dot_trimmed)
{
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\n"
	                       "mx: MX.Example.COM.\nmx: b.example\n"
	                       "mx: mx.example.com\nmx: *.B.example\n"
	                       "max_age: 1\n"),
	    MTASTS_OK);
	ck_assert_uint_eq(policy->mx_count, 3);
	ck_assert_str_eq(policy->mx[0], "mx.example.com");
	ck_assert_str_eq(policy->mx[1], "b.example");
	ck_assert_str_eq(policy->mx[2], "*.b.example");
}
END_TEST

START_TEST(version_errors)
{
	ck_fails("mode: enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_version");
	ck_fails("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_version");
	/* %s"STSv1" is case-sensitive */
	ck_fails("version: stsv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_version");
	ck_fails("", "invalid_sts_version");
}
END_TEST

START_TEST(mode_errors)
{
	ck_fails(
	    "version: STSv1\nmx: a.example\nmax_age: 1\n", "invalid_sts_mode");
	ck_fails("version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_mode");
	ck_fails("version: STSv1\nmode:\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_mode");
	/* a field name in the wrong case is an extension: mode is missing,
	 * and the message says why */
	ck_fails("version: STSv1\nMode: enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_mode");
	ck_assert_ptr_nonnull(strstr(err.message, "case-sensitive"));
}
END_TEST

START_TEST(max_age_errors)
{
	const char *head = "version: STSv1\nmode: enforce\nmx: a.example\n";
	const char *bad[] = {"max_age: -1", "max_age: +86400",
	    "max_age: 31557601", "max_age: 99999999999", "max_age: 1e5",
	    "max_age: 86400s", "max_age:", "max_age: 0x10", "max_age: 1 2",
	    "max_age: 00000000031557601"};

	ck_all_fail(
	    head, bad, sizeof(bad) / sizeof(bad[0]), "invalid_sts_max_age");
	ck_fails("version: STSv1\nmode: enforce\nmx: a.example\n",
	    "invalid_sts_max_age");
}
END_TEST

START_TEST(max_age_bounds)
{
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "max_age: 31557600\n"),
	    MTASTS_OK);
	ck_assert_uint_eq(policy->max_age, 31557600);
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "max_age: 0\n"),
	    MTASTS_OK);
	/* 1*10(DIGIT): leading zeros are digits like any other */
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "max_age: 0000086400\n"),
	    MTASTS_OK);
	ck_assert_uint_eq(policy->max_age, 86400);
}
END_TEST

START_TEST(mx_errors)
{
	const char *head = "version: STSv1\nmode: enforce\nmax_age: 1\n";
	const char *bad[] = {"mx:", "mx: *", "mx: *.", "mx: a..example",
	    "mx: -a.example", "mx: a-.example", "mx: a_b.example",
	    "mx: foo.*.example", "mx: **.example", "mx: a.example..",
	    "mx: [192.0.2.1]", "mx: a example", "mx: caf\xc3\xa9.example",
	    "mx: .example"};

	ck_all_fail(head, bad, sizeof(bad) / sizeof(bad[0]), "invalid_sts_mx");
	ck_fails(
	    "version: STSv1\nmode: enforce\nmax_age: 1\n", "invalid_sts_mx");
	ck_fails(
	    "version: STSv1\nmode: testing\nmax_age: 1\n", "invalid_sts_mx");
}
END_TEST

START_TEST(mx_label_limits)
{
	char buf[1024], label[70];

	memset(label, 'a', 63);
	label[63] = '\0';
	snprintf(buf, sizeof(buf),
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: %s.example\n",
	    label);
	ck_assert_int_eq(parse(buf), MTASTS_OK);
	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(buf, sizeof(buf),
	    "version: STSv1\nmode: enforce\nmax_age: 1\nmx: %s.example\n",
	    label);
	ck_fails(buf, "invalid_sts_mx");
}
END_TEST

START_TEST(syntax_errors)
{
	/* white space before the colon: not in the ABNF */
	ck_fails("version : STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_policy");
	/* leading white space */
	ck_fails(" version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_policy");
	ck_fails("version: STSv1\njunk\nmode: enforce\n", "invalid_sts_policy");
	/* a bare CR is not a line end */
	ck_fails("version: STSv1\rmode: enforce\nmx: a.example\nmax_age: 1\n",
	    "invalid_sts_policy");
	ck_assert_ptr_nonnull(strstr(err.message, "carriage return"));
	/* a field name longer than 32 */
	ck_fails("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 1\n"
	         "abcdefghijabcdefghijabcdefghijabc: x\n",
	    "invalid_sts_policy");
}
END_TEST

START_TEST(empty_lines_tolerated)
{
	ck_assert_int_eq(parse("version: STSv1\n\nmode: enforce\r\n\r\n"
	                       "mx: a.example\nmax_age: 1\n\n\n"),
	    MTASTS_OK);
}
END_TEST

START_TEST(hostile_nul)
{
	static const char body[] = "version: STSv1\nmode: enforce\0\nmx: "
	                           "a.example\nmax_age: 1\n";

	ck_assert_int_eq(
	    parse_n(body, sizeof(body) - 1), MTASTS_ERR_INVALID_STS_POLICY);
	ck_assert_ptr_nonnull(strstr(err.message, "0x00"));
}
END_TEST

START_TEST(hostile_bom)
{
	ck_fails("\xef\xbb\xbfversion: STSv1\nmode: enforce\nmx: a.example\n"
	         "max_age: 1\n",
	    "invalid_sts_policy");
	ck_assert_ptr_nonnull(strstr(err.message, "byte order mark"));
}
END_TEST

START_TEST(hostile_invalid_utf8)
{
	const char *bad[] = {"x: \xff\n", "x: \xc0\xaf\n", "x: \xed\xa0\x80\n",
	    "x: \xe2\x82\n", "x: \xf5\x80\x80\x80\n", "x: \x80\n"};
	char buf[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(buf, sizeof(buf),
		    "version: STSv1\nmode: none\nmax_age: 1\n%s", bad[i]);
		ck_fails(buf, "invalid_sts_policy");
	}
}
END_TEST

START_TEST(hostile_sizes)
{
	size_t big = 1024 * 1024, n;
	char *buf = malloc(big + 1);

	ck_assert_ptr_nonnull(buf);
	/* 1 MiB of input */
	memset(buf, 'a', big);
	ck_assert_int_eq(parse_n(buf, big), MTASTS_ERR_POLICY_TOO_LARGE);
	ck_assert_str_eq(err.name, "policy_too_large");
	/* exactly the cap is parsed (and fails on content, not size) */
	ck_assert_int_eq(parse_n(buf, MTASTS_POLICY_MAX_BYTES),
	    MTASTS_ERR_INVALID_STS_POLICY);
	/* a 100 KiB line */
	memcpy(buf, "x: ", 3);
	ck_assert_int_eq(parse_n(buf, 100 * 1024), MTASTS_ERR_POLICY_TOO_LARGE);
	/* 10,000 mx lines do not fit in 64 KiB; as many as fit parse */
	n = (size_t)sprintf(buf, "version: STSv1\nmode: enforce\nmax_age: 1\n");
	while (n + 16 < MTASTS_POLICY_MAX_BYTES)
		n += (size_t)sprintf(buf + n, "mx: m%05zu.ex\n", n % 100000);
	ck_assert_int_eq(parse_n(buf, n), MTASTS_OK);
	ck_assert_uint_gt(policy->mx_count, 4000);
	for (int i = 0; i < 10000; i++)
		n += (size_t)sprintf(buf + n, "mx: m%d.ex\n", i);
	ck_assert_int_eq(parse_n(buf, n), MTASTS_ERR_POLICY_TOO_LARGE);
	free(buf);
}
END_TEST

START_TEST(many_duplicate_mx_are_cheap)
{
	size_t n;
	char *buf = malloc(MTASTS_POLICY_MAX_BYTES + 1);

	ck_assert_ptr_nonnull(buf);
	n = (size_t)sprintf(buf, "version: STSv1\nmode: enforce\nmax_age: 1\n");
	while (n + 8 < MTASTS_POLICY_MAX_BYTES)
		n += (size_t)sprintf(buf + n, "mx: A.b\n");
	ck_assert_int_eq(parse_n(buf, n), MTASTS_OK);
	ck_assert_uint_eq(policy->mx_count, 1);
	ck_assert_str_eq(policy->mx[0], "a.b");
	free(buf);
}
END_TEST

START_TEST(dup_copies_everything)
{
	struct mtasts_policy *copy;

	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "mx: *.b.example\nmax_age: 77\n"),
	    MTASTS_OK);
	snprintf(policy->id, sizeof(policy->id), "abc123");
	policy->expires = 12345;
	copy = mtasts_policy_dup(policy);
	ck_assert_ptr_nonnull(copy);
	ck_assert_str_eq(copy->id, "abc123");
	ck_assert_int_eq(copy->expires, 12345);
	ck_assert_uint_eq(copy->max_age, 77);
	ck_assert_uint_eq(copy->mx_count, 2);
	ck_assert_str_eq(copy->mx[1], "*.b.example");
	ck_assert_ptr_ne(copy->mx[1], policy->mx[1]);
	mtasts_policy_free(copy);
}
END_TEST

/* RFC 8460 §4.4: a report repeats the policy's lines as the domain
 * published them: where version, mode and max_age stood among the known
 * lines (the first of each, mx without repeats; others not kept). */
/* A policy of more than 252 patterns has positions past what line_of
 * holds (a byte each: the struct's layout is 0.1.0's): the canonical
 * order, never a wrong one. */
START_TEST(a_long_policy_falls_back_to_the_canonical_order)
{
	static const uint8_t zero[3] = {0, 0, 0};
	char *body = malloc(300 * 24 + 64), *o = body;
	int i;

	o += sprintf(o, "max_age: 86400\nversion: STSv1\nmode: enforce\n");
	for (i = 0; i < 300; i++)
		o += sprintf(o, "mx: mx%d.example\n", i);
	ck_assert_int_eq(parse(body), MTASTS_OK);
	ck_assert_mem_eq(policy->line_of, zero, sizeof(zero));
	free(body);
}
END_TEST

START_TEST(published_order_is_kept)
{
	static const uint8_t zero[3] = {0, 0, 0};
	struct mtasts_policy *copy;
	char text[256];

	ck_assert_int_eq(parse("max_age: 86400\nmx: A.example.\next: 1\n"
	                       "mode: testing\nmx: b.example\nversion: STSv1\n"),
	    MTASTS_OK);
	ck_assert_uint_eq(policy->line_of[0], 5);
	ck_assert_uint_eq(policy->line_of[1], 3);
	ck_assert_uint_eq(policy->line_of[2], 1);
	ck_assert(policy_text(policy, text, sizeof(text)));
	ck_assert_str_eq(text, "max_age: 86400\nmx: a.example\nmode: testing\n"
	                       "mx: b.example\nversion: STSv1");
	ck_assert(!policy_text(policy, text, 20));
	/* the order survives a copy */
	snprintf(policy->id, sizeof(policy->id), "x1");
	copy = mtasts_policy_dup(policy);
	ck_assert_ptr_nonnull(copy);
	ck_assert_mem_eq(copy->line_of, policy->line_of, sizeof(copy->line_of));
	mtasts_policy_free(copy);

	/* repeats: the first version, mode and max_age; mx lines once */
	ck_assert_int_eq(parse("version: STSv1\nmx: a.example\nmx: A.example\n"
	                       "mode: enforce\nmode: testing\nmax_age: 5\n"
	                       "version: STSv2\nmx: b.example\nmax_age: 6\n"),
	    MTASTS_OK);
	ck_assert_uint_eq(policy->line_of[0], 1);
	ck_assert_uint_eq(policy->line_of[1], 3);
	ck_assert_uint_eq(policy->line_of[2], 4);
	ck_assert(policy_text(policy, text, sizeof(text)));
	ck_assert_str_eq(text, "version: STSv1\nmx: a.example\nmode: enforce\n"
	                       "max_age: 5\nmx: b.example");
	/* mode none, no mx */
	ck_assert_int_eq(parse("mode: none\nversion: STSv1\nmax_age: 1\n"),
	    MTASTS_OK);
	ck_assert_uint_eq(policy->line_of[0], 2);
	ck_assert_uint_eq(policy->line_of[1], 1);
	ck_assert_uint_eq(policy->line_of[2], 3);
	/* the canonical order is all 0, as a policy built zeroed has */
	ck_assert_int_eq(parse("version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "x: y\nmx: b.example\nmax_age: 9\n"),
	    MTASTS_OK);
	ck_assert_mem_eq(policy->line_of, zero, sizeof(zero));
	ck_assert(policy_text(policy, text, sizeof(text)));
	ck_assert_str_eq(text, "version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "mx: b.example\nmax_age: 9");
	/* an order that is none (repeated or past the last line) reads as the
	 * canonical one, and a copy drops it */
	policy->line_of[0] = 2;
	policy->line_of[1] = 2;
	policy->line_of[2] = 1;
	ck_assert(policy_text(policy, text, sizeof(text)));
	ck_assert_str_eq(text, "version: STSv1\nmode: enforce\nmx: a.example\n"
	                       "mx: b.example\nmax_age: 9");
	copy = mtasts_policy_dup(policy);
	ck_assert_mem_eq(copy->line_of, zero, sizeof(zero));
	mtasts_policy_free(copy);
	policy->line_of[1] = 6;
	copy = mtasts_policy_dup(policy);
	ck_assert_mem_eq(copy->line_of, zero, sizeof(zero));
	mtasts_policy_free(copy);
	policy->line_of[1] = 5;
	copy = mtasts_policy_dup(policy);
	ck_assert_uint_eq(copy->line_of[1], 5);
	mtasts_policy_free(copy);
}
END_TEST

START_TEST(mode_names)
{
	/* the codes' names and messages: test_error.c */
	ck_assert_str_eq(mtasts_mode_name(MTASTS_MODE_TESTING), "testing");
}
END_TEST

static Suite *
policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *t = tcase_create("parse");

	tcase_add_checked_fixture(t, NULL, teardown);
	tcase_add_test(t, rfc_example_crlf);
	tcase_add_test(t, lf_and_no_final_newline);
	tcase_add_test(t, mixed_line_ends);
	tcase_add_test(t, fields_in_any_order_and_whitespace);
	tcase_add_test(t, mode_none_needs_no_mx);
	tcase_add_test(t, unknown_fields_ignored);
	tcase_add_test(t, duplicate_fields_first_wins);
	tcase_add_test(t, mx_lowercased_deduplicated_dot_trimmed);
	tcase_add_test(t, version_errors);
	tcase_add_test(t, mode_errors);
	tcase_add_test(t, max_age_errors);
	tcase_add_test(t, max_age_bounds);
	tcase_add_test(t, mx_errors);
	tcase_add_test(t, mx_label_limits);
	tcase_add_test(t, syntax_errors);
	tcase_add_test(t, empty_lines_tolerated);
	tcase_add_test(t, hostile_nul);
	tcase_add_test(t, hostile_bom);
	tcase_add_test(t, hostile_invalid_utf8);
	tcase_add_test(t, hostile_sizes);
	tcase_add_test(t, many_duplicate_mx_are_cheap);
	tcase_add_test(t, dup_copies_everything);
	tcase_add_test(t, published_order_is_kept);
	tcase_add_test(t, a_long_policy_falls_back_to_the_canonical_order);
	tcase_add_test(t, mode_names);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return unit_run(policy_suite());
}
