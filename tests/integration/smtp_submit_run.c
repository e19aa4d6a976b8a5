/*
 * smtp_submit_run.c - smtp_submit() (common/net/smtp_submit.c) from the
 * command line, for test_smtp_submit.py: submits standard input (at most
 * 1 MiB) to ADDRESS:PORT from FROM to RCPT, prints where it ended, the
 * code and the text ("RCPT 550 RCPT TO: 550 5.1.1 no such user"); exit
 * status 0 when the server accepted the message, 1 if not, 2 on misuse.
 */
#include <stdio.h>
#include <stdlib.h>

#include "smtp_submit.h"

#define MESSAGE_MAX (1 << 20)

int
main(int argc, char **argv)
{
	static const char *const steps[] = {
	    "CONNECT", "GREETING", "EHLO", "MAIL", "RCPT", "DATA", "MESSAGE"};
	static char message[MESSAGE_MAX + 1];
	struct smtp_outcome out;
	struct smtp_submission s = {
	    .connect_ms = 5000, .reply_ms = 10000, .total_ms = 20000};
	char helo[256];
	size_t len;
	bool accepted;

	if (argc != 5) {
		fprintf(stderr,
		    "usage: smtp_submit_run ADDRESS PORT FROM "
		    "RCPT < MESSAGE\n");
		return 2;
	}
	len = fread(message, 1, MESSAGE_MAX, stdin);
	message[len] = '\0';
	smtp_helo_name(helo, sizeof(helo));
	s.address = argv[1];
	s.port = atoi(argv[2]);
	s.helo = helo;
	s.from = argv[3];
	s.rcpt = argv[4];
	s.message = message;
	accepted = smtp_submit(&s, &out);
	printf("%s %d %s\n", steps[out.step], out.code, out.text);
	return accepted ? 0 : 1;
}
