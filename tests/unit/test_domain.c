/* Unit tests of domain names as lookups key them (common/policy/domain.c). */
#include <string.h>

#include "domain.h"
#include "unit.h"

static const char *
norm(const char *in)
{
	static char out[MTASTS_DOMAIN_MAX + 1];

	return domain_normalize(in, out) == 0 ? out : NULL;
}

START_TEST(ascii)
{
	ck_assert_str_eq(norm("Example.COM"), "example.com");
	ck_assert_str_eq(norm("example.com."), "example.com");
	ck_assert_str_eq(norm("xn--bcher-kva.example"), "xn--bcher-kva.example");
	ck_assert_ptr_null(norm(""));
	ck_assert_ptr_null(norm("."));
	ck_assert_ptr_null(norm("a..example"));
	ck_assert_ptr_null(norm("-a.example"));
	ck_assert_ptr_null(norm("a-.example"));
	ck_assert_ptr_null(norm("a b.example"));
	ck_assert_ptr_null(norm("a_b.example"));
	ck_assert_ptr_null(norm("example.com.."));
}
END_TEST

START_TEST(unicode_is_looked_up_in_a_labels)
{
	/* IDNA 2008 with the TR46 mapping, as Exim converts */
	ck_assert_str_eq(norm("b\xc3\xbc" "cher.example"), "xn--bcher-kva.example");
	ck_assert_str_eq(norm("B\xc3\x9c" "CHER.Example"), "xn--bcher-kva.example");
	ck_assert_str_eq(norm("caf\xc3\xa9.example."), "xn--caf-dma.example");
	/* refused by IDNA 2008: no domain, never "no policy" */
	ck_assert_ptr_null(norm("a\xe2\x92\x88.example"));
	/* not UTF-8 at all */
	ck_assert_ptr_null(norm("caf\xe9.example"));
	ck_assert_ptr_null(norm("\xff\xfe.example"));
}
END_TEST

START_TEST(length)
{
	char name[300];

	/* room for "_mta-sts." before it: 244 bytes at most */
	memset(name, 'a', sizeof(name));
	for (size_t i = 60; i < 244; i += 61)
		name[i] = '.';
	name[244] = '\0';
	ck_assert_ptr_nonnull(norm(name));
	name[244] = 'a';
	name[245] = '\0';
	ck_assert_ptr_null(norm(name));
	/* a label of 64 bytes */
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	ck_assert_ptr_null(norm(name));
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("domain");
	TCase *tc = tcase_create("domain");

	tcase_add_test(tc, ascii);
	tcase_add_test(tc, unicode_is_looked_up_in_a_labels);
	tcase_add_test(tc, length);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
