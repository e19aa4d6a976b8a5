/* Unit tests of the _mta-sts TXT record parser (RFC 8461 §3.1). */
#include <string.h>

#include "mtasts.h"
#include "unit.h"

static char id[MTASTS_ID_MAX + 1];
static struct mtasts_error err;

/* Parses a NULL-terminated list of NUL-terminated records. */
static mtasts_code
parse_list(const char *const *records)
{
	size_t lens[16], n;

	for (n = 0; records[n] != NULL; n++)
		lens[n] = strlen(records[n]);
	mtasts_error_clear(&err);
	return mtasts_txt_parse(records, lens, n, id, &err);
}

static mtasts_code
parse1(const char *record)
{
	const char *list[] = {record, NULL};

	return parse_list(list);
}

#define ck_id(record, want)                                                    \
	do {                                                                   \
		ck_assert_int_eq(parse1(record), MTASTS_OK);                   \
		ck_assert_str_eq(id, want);                                    \
	} while (0)

#define ck_fails(record, code_name)                                            \
	do {                                                                   \
		ck_assert_int_ne(parse1(record), MTASTS_OK);                   \
		ck_assert_str_eq(err.name, code_name);                         \
		ck_assert_str_eq(id, "");                                      \
	} while (0)

START_TEST(rfc_example)
{
	/* RFC 8461 §3.1 example */
	ck_id("v=STSv1; id=20160831085700Z;", "20160831085700Z");
}
END_TEST

START_TEST(delimiters_and_whitespace)
{
	ck_id("v=STSv1;id=abc", "abc");
	ck_id("v=STSv1 ; id=abc ;", "abc");
	ck_id("v=STSv1;\tid=abc\t;\t", "abc");
	ck_id("v=STSv1; id=abc; ", "abc");
}
END_TEST

START_TEST(extensions_allowed)
{
	ck_id("v=STSv1; foo=bar; id=x1; a-b.c_d=~!@#$%^&*()", "x1");
	/* a later v= is an extension field under the grammar */
	ck_id("v=STSv1; id=x1; v=STSv2", "x1");
}
END_TEST

START_TEST(id_rules)
{
	char max[40];

	memset(max, 'Z', 32);
	strcpy(max + 32, "");
	{
		char rec[64];

		snprintf(rec, sizeof(rec), "v=STSv1; id=%s", max);
		ck_id(rec, max);
		snprintf(rec, sizeof(rec), "v=STSv1; id=%sZ", max);
		ck_fails(rec, "invalid_sts_id");
	}
	ck_fails("v=STSv1; id=", "invalid_sts_id");
	ck_fails("v=STSv1; id=2016-08-31", "invalid_sts_id");
	ck_fails("v=STSv1; id=abc_def", "invalid_sts_id");
	ck_fails("v=STSv1;", "invalid_sts_id");
	ck_fails("v=STSv1", "invalid_sts_id");
	ck_fails("v=STSv1; foo=bar", "invalid_sts_id");
	/* %s"id=": case-sensitive; ID is an extension, so id is missing */
	ck_fails("v=STSv1; ID=abc", "invalid_sts_id");
}
END_TEST

START_TEST(id_twice_first_wins)
{
	ck_id("v=STSv1; id=first; id=second", "first");
	/* but both must be well-formed */
	ck_fails("v=STSv1; id=first; id=not-valid", "invalid_sts_id");
}
END_TEST

START_TEST(syntax_errors)
{
	ck_fails("v=STSv1; id=abc;; x=y", "invalid_sts_record");
	ck_fails("v=STSv1; id=abc def", "invalid_sts_record");
	ck_fails("v=STSv1; id=abc; foo", "invalid_sts_record");
	ck_fails("v=STSv1; id=abc; foo=", "invalid_sts_record");
	ck_fails("v=STSv1; id=abc; =x", "invalid_sts_record");
	ck_fails("v=STSv1; id=abc; foo=a=b", "invalid_sts_record");
	ck_fails("v=STSv1 id=abc", "invalid_sts_record");
	ck_fails("v=STSv1; id=abc; f\xc3\xa9=x", "invalid_sts_record");
}
END_TEST

START_TEST(record_selection)
{
	const char *junk_and_one[] = {"hello", "v=spf1 -all", "v=STSv10; id=1",
	    "V=STSv1; id=2", "v=STSv1; id=good", " v=STSv1; id=3", NULL};
	const char *two[] = {"v=STSv1; id=a", "v=STSv1; id=b", NULL};
	const char *two_one_bad[] = {"v=STSv1; id=a", "v=STSv1; junk", NULL};
	const char *none[] = {"v=spf1 -all", NULL};
	const char *empty[] = {NULL};

	ck_assert_int_eq(parse_list(junk_and_one), MTASTS_OK);
	ck_assert_str_eq(id, "good");
	ck_assert_int_eq(parse_list(two), MTASTS_ERR_MULTI_STS_RECORDS);
	ck_assert_str_eq(err.name, "multi_sts_records");
	ck_assert_int_eq(parse_list(two_one_bad), MTASTS_ERR_MULTI_STS_RECORDS);
	ck_assert_int_eq(parse_list(none), MTASTS_ERR_NO_STS_RECORD);
	ck_assert_str_eq(err.name, "no_sts_record");
	ck_assert_int_eq(parse_list(empty), MTASTS_ERR_NO_STS_RECORD);
}
END_TEST

START_TEST(hostile_bytes)
{
	static const char nul[] = "v=STSv1; id=abc; x=a\0b";
	const char *list[] = {nul};
	size_t len = sizeof(nul) - 1;
	char *big;

	mtasts_error_clear(&err);
	ck_assert_int_eq(mtasts_txt_parse(list, &len, 1, id, &err),
	    MTASTS_ERR_INVALID_STS_RECORD);
	ck_assert_ptr_nonnull(strstr(err.message, "\\x00"));
	/* 1 MiB record: linear, bounded message */
	big = malloc(1024 * 1024 + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, 'a', 1024 * 1024);
	memcpy(big, "v=STSv1; id=abc; x=", 19);
	big[1024 * 1024] = '\0';
	ck_id(big, "abc");
	big[1024 * 500] = ' ';
	ck_fails(big, "invalid_sts_record");
	ck_assert_uint_lt(strlen(err.message), sizeof(err.message));
	free(big);
	ck_fails("v=STSv1; id=abc; x=\xff", "invalid_sts_record");
	ck_fails("v=STSv1;\r\nid=abc", "invalid_sts_record");
}
END_TEST

static Suite *
txt_suite(void)
{
	Suite *s = suite_create("txt");
	TCase *t = tcase_create("parse");

	tcase_add_test(t, rfc_example);
	tcase_add_test(t, delimiters_and_whitespace);
	tcase_add_test(t, extensions_allowed);
	tcase_add_test(t, id_rules);
	tcase_add_test(t, id_twice_first_wins);
	tcase_add_test(t, syntax_errors);
	tcase_add_test(t, record_selection);
	tcase_add_test(t, hostile_bytes);
	suite_add_tcase(s, t);
	return s;
}

int
main(void)
{
	return unit_run(txt_suite());
}
