/* Unit tests of the TLS-RPT record parser (RFC 8460 §3), which shares its
 * field scanner (common/policy/fields.c) with the _mta-sts record's. */
#include <string.h>

#include "tlsrpt_txt.h"
#include "unit.h"

static struct tlsrpt rpt;
static struct mtasts_error err;

static mtasts_code
parse1(const char *record)
{
	size_t len = strlen(record);

	mtasts_error_clear(&err);
	return tlsrpt_parse(&record, &len, 1, &rpt, &err);
}

START_TEST(rfc_examples)
{
	/* RFC 8460 §3.1 */
	ck_assert_int_eq(parse1("v=TLSRPTv1;rua=mailto:reports@example.com"),
	    MTASTS_OK);
	ck_assert_uint_eq(rpt.rua_count, 1);
	ck_assert_str_eq(rpt.rua[0], "mailto:reports@example.com");
	ck_assert_int_eq(rpt.bad_scheme, -1);
	ck_assert_int_eq(parse1("v=TLSRPTv1; rua=https://reporting.example."
				"com/v1/tlsrpt"),
	    MTASTS_OK);
	ck_assert_str_eq(rpt.rua[0], "https://reporting.example.com/v1/tlsrpt");
}
END_TEST

START_TEST(lists_and_white_space)
{
	ck_assert_int_eq(parse1("v=TLSRPTv1 ; rua=mailto:a@x.example , "
				"https://r.example/\t; ext=1 ; "),
	    MTASTS_OK);
	ck_assert_uint_eq(rpt.rua_count, 2);
	ck_assert_str_eq(rpt.rua[0], "mailto:a@x.example");
	ck_assert_str_eq(rpt.rua[1], "https://r.example/");
	ck_assert_int_eq(parse1("v=TLSRPTv1; rua=mailto:a@x.example,"
				"http://r.example/"),
	    MTASTS_OK);
	ck_assert_int_eq(rpt.bad_scheme, 1);
}
END_TEST

START_TEST(malformed)
{
	static const char *bad[] = {"v=TLSRPTv1;", "v=TLSRPTv1; rua=",
	    "v=TLSRPTv1 rua=mailto:a@x.example", "v=TLSRPTv1;; rua=mailto:a@x",
	    "v=TLSRPTv1; =mailto:a@x", "v=TLSRPTv1; rua",
	    "v=TLSRPTv1; rua=mailto:a@x; rua=mailto:b@x",
	    "v=TLSRPTv1; rua=mailto:a@x,,mailto:b@x"};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse1(bad[i]), MTASTS_ERR_INVALID_STS_RECORD);
		ck_assert_str_eq(err.name, "invalid_sts_record");
	}
	ck_assert_int_eq(
	    parse1("v=TLSRPTv10; rua=mailto:a@x"), MTASTS_ERR_NO_TLSRPT_RECORD);
}
END_TEST

START_TEST(one_record_only)
{
	const char *two[] = {"v=TLSRPTv1; rua=mailto:a@x.example",
	    "v=TLSRPTv1; rua=mailto:b@x.example"};
	size_t lens[] = {strlen(two[0]), strlen(two[1])};

	ck_assert_int_eq(tlsrpt_parse(two, lens, 2, &rpt, &err),
	    MTASTS_ERR_MULTI_STS_RECORDS);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("tlsrpt");
	TCase *tc = tcase_create("tlsrpt");

	tcase_add_test(tc, rfc_examples);
	tcase_add_test(tc, lists_and_white_space);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, one_record_only);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
