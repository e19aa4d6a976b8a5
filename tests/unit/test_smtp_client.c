/* Unit tests of reading SMTP replies (common/net/smtp_client.c). */
#include <string.h>

#include "smtp_client.h"
#include "unit.h"

/* The code of text when it holds a whole reply, else -1. */
static int
whole(const char *text)
{
	int code = -1;

	return smtp_reply_complete(text, &code) ? code : -1;
}

/* RFC 5321 §4.2.1: "NNN-" lines go on, the "NNN" or "NNN text" line is
 * the last; a line that is not SMTP ends the reply at once (code 0), so
 * that a client need not wait its deadline out on garbage. */
START_TEST(a_reply_ends_at_its_last_line)
{
	ck_assert_int_eq(whole("220 mx.example ESMTP\r\n"), 220);
	ck_assert_int_eq(
	    whole("250-mx.example\r\n250-SIZE\r\n250 HELP\r\n"), 250);
	ck_assert_int_eq(whole("250\r\n"), 250);
	ck_assert_int_eq(whole("250-mx.example\r\n250"), -1);
	ck_assert_int_eq(whole("250-mx.example\r\n"), -1);
	ck_assert_int_eq(whole("220 mx.example"), -1);
	ck_assert_int_eq(whole("220 mx.example\r"), -1);
	ck_assert_int_eq(whole(""), -1);
	/* not SMTP: the end, code 0 */
	ck_assert_int_eq(whole("hello there\r\n"), 0);
	ck_assert_int_eq(whole("\r\n"), 0);
	ck_assert_int_eq(whole("25\r\n"), 0);
	ck_assert_int_eq(whole("2500 x\r\n"), 0);
	ck_assert_int_eq(whole("abc-def\r\n250 ok\r\n"), 0);
	ck_assert_int_eq(whole("250-a\r\n25x ok\r\n"), 0);
	/* atoi would skip the blanks and read the next line's code */
	ck_assert_int_eq(whole(" 25\r\n250 ok\r\n"), 0);
}
END_TEST

/* A reply as a message says it: the code once, every line's text,
 * nothing a terminal or a log would read as more than text. */
START_TEST(the_reply_text_is_printable)
{
	char out[64];

	smtp_reply_text(
	    "550-5.1.1 no such\r\n550 5.1.1 user\r\n", out, sizeof(out));
	ck_assert_str_eq(out, "550-5.1.1 no such 5.1.1 user");
	smtp_reply_text("250 OK id=1\r\n", out, sizeof(out));
	ck_assert_str_eq(out, "250 OK id=1");
	smtp_reply_text("451 a\x1b[2Jb\xff\tc\r\n", out, sizeof(out));
	ck_assert_str_eq(out, "451 a?[2Jb??c");
	smtp_reply_text("250-\r\n250 x\r\n", out, sizeof(out));
	ck_assert_str_eq(out, "250- x");
	smtp_reply_text("", out, sizeof(out));
	ck_assert_str_eq(out, "");
	smtp_reply_text("451 a rather long reply\r\n", out, 10);
	ck_assert_str_eq(out, "451 a rat");
	smtp_reply_text("451-a\r\n451 rather long\r\n", out, 8);
	ck_assert_str_eq(out, "451-a r");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("smtp_client");
	TCase *tc = tcase_create("smtp_client");

	tcase_add_test(tc, a_reply_ends_at_its_last_line);
	tcase_add_test(tc, the_reply_text_is_printable);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
