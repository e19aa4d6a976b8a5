/* Unit tests of the table of codes (common/error.c): what each code
 * means is pinned here, so that changing it is a decision the diff
 * shows.  A local failure must never count as "no policy". */
#include <string.h>

#include "error.h"
#include "unit.h"

static const mtasts_code local[] = {MTASTS_ERR_CACHE, MTASTS_ERR_CONFIG,
    MTASTS_ERR_IO, MTASTS_ERR_NOMEM, MTASTS_ERR_INTERNAL,
    MTASTS_ERR_TLS_SETUP, MTASTS_ERR_PROXY};
/* no outcome of discovery */
static const mtasts_code other[] = {MTASTS_ERR_USAGE, MTASTS_ERR_NOT_CACHED,
    MTASTS_ERR_NO_TLSRPT_RECORD};

static bool
in(const mtasts_code *set, size_t n, mtasts_code c)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (set[i] == c)
			return true;
	return false;
}

#define IN(set, c) in(set, sizeof(set) / sizeof(set[0]), c)

START_TEST(every_code_has_one_meaning)
{
	int c;

	for (c = 0; c < MTASTS_CODE_COUNT; c++) {
		bool l = mtasts_error_is_local((mtasts_code)c);
		bool answer = mtasts_code_may_mean_no_policy((mtasts_code)c);

		ck_assert_msg(l == IN(local, (mtasts_code)c), "code %d", c);
		ck_assert_msg(answer == !(IN(local, (mtasts_code)c) ||
		                            IN(other, (mtasts_code)c)),
		    "code %d", c);
		/* a local failure is never reported as the domain's */
		if (!answer)
			ck_assert_ptr_null(
			    mtasts_code_tlsrpt_result((mtasts_code)c));
	}
}
END_TEST

START_TEST(out_of_range_means_nothing)
{
	ck_assert(!mtasts_error_is_local(MTASTS_CODE_COUNT));
	ck_assert(!mtasts_code_may_mean_no_policy(MTASTS_CODE_COUNT));
	ck_assert(!mtasts_code_may_mean_no_policy((mtasts_code)-1));
	ck_assert_ptr_null(mtasts_code_tlsrpt_result(MTASTS_CODE_COUNT));
	ck_assert_str_eq(mtasts_code_name(MTASTS_CODE_COUNT), "internal_error");
	ck_assert_str_eq(
	    mtasts_strerror(MTASTS_CODE_COUNT), "unknown error code");
}
END_TEST

START_TEST(rfc8460_result_types)
{
	ck_assert_ptr_null(mtasts_code_tlsrpt_result(MTASTS_OK));
	ck_assert_ptr_null(mtasts_code_tlsrpt_result(MTASTS_ERR_NO_STS_RECORD));
	ck_assert_str_eq(mtasts_code_tlsrpt_result(MTASTS_ERR_INVALID_STS_MX),
	    "sts-policy-invalid");
	ck_assert_str_eq(
	    mtasts_code_tlsrpt_result(MTASTS_ERR_HTTP_CONTENT_TYPE),
	    "sts-policy-invalid");
	ck_assert_str_eq(mtasts_code_tlsrpt_result(MTASTS_ERR_TLS_CERT_TIME),
	    "sts-webpki-invalid");
	ck_assert_str_eq(mtasts_code_tlsrpt_result(MTASTS_ERR_HTTP_STATUS),
	    "sts-policy-fetch-error");
	ck_assert_str_eq(mtasts_code_tlsrpt_result(MTASTS_ERR_DNS_NODATA),
	    "sts-policy-fetch-error");
}
END_TEST

START_TEST(names_and_messages)
{
	int c;

	for (c = 0; c < MTASTS_CODE_COUNT; c++) {
		ck_assert_ptr_nonnull(mtasts_code_name((mtasts_code)c));
		ck_assert_uint_gt(strlen(mtasts_strerror((mtasts_code)c)), 0);
	}
	ck_assert_str_eq(mtasts_code_name(MTASTS_ERR_MULTI_STS_RECORDS),
	    "multi_sts_records");
	ck_assert_str_eq(mtasts_code_name(MTASTS_ERR_TLS), "tls_error");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("error");
	TCase *t = tcase_create("codes");

	tcase_add_test(t, every_code_has_one_meaning);
	tcase_add_test(t, out_of_range_means_nothing);
	tcase_add_test(t, rfc8460_result_types);
	tcase_add_test(t, names_and_messages);
	suite_add_tcase(s, t);
	return unit_run(s);
}
