/* Unit tests of the message as submitted (common/net/smtp_submit.c). */
#include <stdlib.h>
#include <string.h>

#include "smtp_submit.h"
#include "unit.h"

/* RFC 5321 §4.5.2 and §2.3.8: lines end in CRLF on the wire, however
 * they ended before; a line starting with "." gets one more; the data
 * ends with a "." line. */
START_TEST(the_data_is_crlf_and_dot_stuffed)
{
	static const struct {
		const char *message, *data;
	} cases[] = {
	    {"", ".\r\n"},
	    {"a\n", "a\r\n.\r\n"},
	    {"a", "a\r\n.\r\n"},
	    {"a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
	    {"a\nb\r\nc", "a\r\nb\r\nc\r\n.\r\n"},
	    {".\n", "..\r\n.\r\n"},
	    {".hidden\n..two\nnot.first\n.",
	        "..hidden\r\n...two\r\n"
	        "not.first\r\n..\r\n.\r\n"},
	    {"\n.\n\n", "\r\n..\r\n\r\n.\r\n"},
	    {"a\rb\r\r\n", "a\r\nb\r\n\r\n.\r\n"},
	    {"\r.x\n", "\r\n..x\r\n.\r\n"},
	    {"x\r", "x\r\n.\r\n"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *data = smtp_data(cases[i].message);

		ck_assert_ptr_nonnull(data);
		ck_assert_msg(strcmp(data, cases[i].data) == 0,
		    "case %zu: \"%s\"", i, data);
		free(data);
	}
}
END_TEST

/* An address that could end or change its command is not sent: refused
 * before any connection (the address given would not be tried). */
START_TEST(an_address_that_could_change_the_command_is_not_sent)
{
	static const char *bad[] = {"a@b.example>\r\nRCPT TO:<c@d.example",
	    "a b@c.example", "a@b.example>", "", "a\t@b.example",
	    "caf\xc3\xa9@b.example"};
	struct smtp_outcome out;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct smtp_submission s = {.address = "192.0.2.1",
		    .port = 25,
		    .helo = "localhost",
		    .from = "r@a.example",
		    .rcpt = bad[i],
		    .message = "x\n",
		    .connect_ms = 1,
		    .reply_ms = 1,
		    .total_ms = 1};

		ck_assert(!smtp_submit(&s, &out));
		ck_assert_int_eq(out.step, SMTP_STEP_RCPT);
		ck_assert_int_eq(out.code, 0);
		ck_assert_str_eq(out.text, "RCPT TO: bad address");
		s.from = bad[i];
		s.rcpt = "r@a.example";
		ck_assert(!smtp_submit(&s, &out));
		ck_assert_int_eq(out.step, SMTP_STEP_MAIL);
	}
}
END_TEST

START_TEST(the_helo_name_is_a_domain)
{
	char name[300];

	smtp_helo_name(name, sizeof(name));
	ck_assert(strcmp(name, "localhost") == 0 || strchr(name, '.') != NULL);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("smtp_submit");
	TCase *tc = tcase_create("smtp_submit");

	tcase_add_test(tc, the_data_is_crlf_and_dot_stuffed);
	tcase_add_test(
	    tc, an_address_that_could_change_the_command_is_not_sent);
	tcase_add_test(tc, the_helo_name_is_a_domain);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
